// ShotRunner: generates a sequence of shots ahead of playback. Each shot is its own GenerationJob
// (its own cache entry and journal, so a re-run pays only for the shots not finished and resumes
// those submitted). Shots start in order, at most `max_parallel` at a time; a continuity shot
// starts once the shot before it ended, with that shot's clip as a reference video. Shots may be
// added while it runs. Its threads call the Listener; stop() cancels every job and joins them.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client_config.h"
#include "generation_job.h"
#include "service_error.h"
#include "storyboard.h"

namespace see2ai {

class ShotRunner {
 public:
  // Called on the runner's threads; several shots may call at the same time.
  class Listener {
   public:
    virtual ~Listener() = default;
    // The events of shot `index`'s job; it must live until stop() returns.
    virtual JobEvents &shot_events(size_t index) = 0;
    // The shot's job ended: its clip is whole (result.files), or it failed (ErrorKind::Cancelled
    // when stopped).
    virtual void shot_succeeded(size_t index, const JobResult &result) = 0;
    virtual void shot_failed(size_t index, const ServiceError &error) = 0;
  };

  struct Settings {
    ClientConfig client;
    std::string cache_dir;  // empty: no cache, no journal
    CacheMode cache_mode = CacheMode::Off;
    uint64_t cache_max_size = 0;
    std::string attach_task_id;  // shot 0 plays this task instead of submitting
    size_t max_parallel = 2;     // at least 1
  };

  ShotRunner(Settings settings, Listener &listener);
  ~ShotRunner();
  ShotRunner(const ShotRunner &) = delete;
  ShotRunner &operator=(const ShotRunner &) = delete;

  // Adds a shot at the end (checked before with check_shot) and returns its index. Any thread.
  size_t add(Shot shot);
  size_t size() const;
  // A copy of shot `index`.
  Shot shot(size_t index) const;
  // Starts generating (the shots added so far and any added later).
  void start();
  // Cancels every job and starts no more, without waiting for the threads. Any thread.
  void cancel();
  // Cancels every job and joins the threads. Idempotent; the Listener is not called afterwards.
  void stop();

 private:
  struct Slot {
    Shot shot;
    std::unique_ptr<GenerationJob> job;  // while it runs
    bool done = false;
    std::optional<std::string> clip_url;  // its first result URL, once it succeeded
  };

  void work();
  // The request of shot `index` (a continuity shot's with the previous clip), or the reason it
  // cannot be made. Called with the lock held.
  std::optional<GenerationRequest> request_for(size_t index, std::string *why) const;

  Settings settings_;
  Listener &listener_;
  mutable std::mutex mutex_;
  std::condition_variable cond_;
  std::vector<std::unique_ptr<Slot>> slots_;
  size_t next_ = 0;  // the next shot to start
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace see2ai
