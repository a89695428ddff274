// RenderQueue: renders result clips on worker threads, off the server's main context. Identical
// clips without reference frames (same prompt, size, duration, audio) are rendered once and shared.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "clip_renderer.h"
#include "worker_pool.h"

namespace see2ai::dev {

class RenderQueue {
 public:
  // Done callback: empty string on success, else the reason; runs on a worker thread.
  using Done = std::function<void(const std::string &error)>;

  RenderQueue(std::string cache_dir, int threads);

  // Renders `spec` into `path`; calls `done` when the file exists or the render failed.
  void render(const RenderSpec &spec, const std::string &path, Done done);

 private:
  struct Waiter {
    std::string path;
    Done done;
  };
  void render_shared(const RenderSpec &spec, const std::string &key);
  void render_one(const RenderSpec &spec, const std::string &path, const Done &done);

  std::string cache_dir_;
  std::mutex lock_;
  std::map<std::string, std::vector<Waiter>> in_flight_;  // cache key -> who waits for it
  WorkerPool pool_;  // last: its threads stop before the members they use go away
};

}  // namespace see2ai::dev
