// ShotSequence: the shots of one run, kept in step. Each shot has a slot in the playlist (which
// plays its files), a job in the runner (which generates it ahead) and a chapter (which describes
// it), and a shot appended from the application's thread joins all three at once while the
// decoding task reads them. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "clip_playlist.h"
#include "shot_chapters.h"
#include "shot_runner.h"
#include "storyboard.h"

namespace see2ai {

class ShotSequence {
 public:
  explicit ShotSequence(ClipPlaylist &playlist) : playlist_(playlist) {}
  ~ShotSequence();
  ShotSequence(const ShotSequence &) = delete;
  ShotSequence &operator=(const ShotSequence &) = delete;

  // A run of `shots` (checked before) that `settings` generates, reporting to `listener`. The
  // playlist was started before. Nothing is submitted until start().
  void begin(const ShotRunner::Settings &settings, ShotRunner::Listener &listener,
             std::vector<Shot> shots);
  // Starts generating.
  void start();
  // The index the next appended shot gets, or nothing between runs.
  std::optional<size_t> next_index() const;
  // Appends a checked shot to the run begun and returns its index; nothing between runs.
  std::optional<size_t> append(Shot shot);
  // A copy of shot `index` of the run (an empty shot between runs).
  Shot shot(size_t index) const;

  // Shot `index` went on air at `start_ns` and lasts `length_ns`; or it failed and was passed over.
  void played(size_t index, uint64_t start_ns, uint64_t length_ns);
  void skipped(size_t index);
  std::vector<Chapter> chapters() const;

  // No shot starts anymore: the jobs under way are cancelled (their journals let a later run resume
  // them unpaid), without waiting for them.
  void cancel();
  // Ends the run: cancels every job and joins the runner. Idempotent.
  void end();

 private:
  size_t add_locked(Shot shot);

  ClipPlaylist &playlist_;
  mutable std::mutex mutex_;
  std::unique_ptr<ShotRunner> runner_;
  ShotChapters chapters_;
};

}  // namespace see2ai
