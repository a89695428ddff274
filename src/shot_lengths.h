// ShotLengths: where the ready shots of a sequence sit in stream time, end to end, for a seek
// across the sequence (which shot holds the target, and where that shot starts) and for its
// duration (the sum, once every shot is on disk). A whole shot file's length is read once and
// remembered until clear(): opening a demuxer for every duration or seeking query would cost one
// each time. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "clip_decoder.h"
#include "growing_file.h"

namespace see2ai {

// A shot's length in a sequence: its picture's (its sound is trimmed to its picture), else the
// file's; -1 when neither is known.
int64_t shot_length_ns(const ClipInfo &info);

class ShotLengths {
 public:
  struct Placed {
    size_t shot = 0;
    uint64_t start_ns = 0;
    uint64_t length_ns = 0;
    std::shared_ptr<GrowingFile> file;
  };

  // Forgets every length (a new run plays new files).
  void clear();
  // The shots of `ready` (the whole files of the first shots, in order) placed end to end, up to
  // the first whose length cannot be read.
  std::vector<Placed> place(std::vector<std::shared_ptr<GrowingFile>> ready);
  // The shot of `ready` that holds `target_ns`, or nothing when the placed shots end before it.
  std::optional<Placed> landing(std::vector<std::shared_ptr<GrowingFile>> ready,
                                uint64_t target_ns);
  // The length of the whole sequence of `shot_count` shots once each is placed, else -1.
  int64_t total(std::vector<std::shared_ptr<GrowingFile>> ready, size_t shot_count);

 private:
  // The remembered or newly read length of `file`, or -1 when it cannot be read.
  int64_t length_of(const std::shared_ptr<GrowingFile> &file);

  std::mutex mutex_;
  // Keyed by the file itself, held until clear(): a later file cannot be made where a remembered
  // one was and inherit its length.
  std::map<std::shared_ptr<GrowingFile>, int64_t> known_;
};

}  // namespace see2ai
