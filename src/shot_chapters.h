// ShotChapters: the table of contents of a sequence of shots, one chapter per shot, in stream
// time. A shot that has played has its real start and length; a shot still to come is planned
// after the one before it with the length its request asks for, so the whole table exists from the
// first frame (a muxer such as matroskamux writes the chapters it has before its first buffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace see2ai {

struct Chapter {
  size_t index = 0;
  std::string title;
  uint64_t start_ns = 0;
  uint64_t stop_ns = 0;
};

class ShotChapters {
 public:
  // Forgets every shot.
  void clear();
  // Shot `index` joins with its title and the length its request asks for.
  void plan(size_t index, std::string title, uint64_t planned_ns);
  // Shot `index` went on air at `start_ns` and lasts `length_ns`.
  void played(size_t index, uint64_t start_ns, uint64_t length_ns);
  // Shot `index` failed and was passed over: it has no chapter.
  void skipped(size_t index);
  // The chapter of every shot but the skipped ones, in order: played shots as they played, the
  // others planned after them. `index` is the shot's.
  std::vector<Chapter> chapters() const;
  size_t size() const { return shots_.size(); }

 private:
  struct Entry {
    std::string title;
    uint64_t planned_ns = 0;
    bool played = false;
    bool skipped = false;
    uint64_t start_ns = 0;
    uint64_t length_ns = 0;
  };
  std::vector<Entry> shots_;
};

// The length a request of `duration_s` seconds asks for (-1: the model decides; 5 s planned).
uint64_t planned_shot_length_ns(int duration_s);

}  // namespace see2ai
