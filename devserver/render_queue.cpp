#include "render_queue.h"

#include <glib.h>

#include <filesystem>

namespace see2ai::dev {

namespace {

std::string cache_key_of(const RenderSpec &spec) {
  std::string text = std::to_string(spec.width) + "x" + std::to_string(spec.height) + "|" +
                     std::to_string(spec.fps_num) + "/" + std::to_string(spec.fps_den) + "|" +
                     std::to_string(spec.duration_s) + "|" +
                     std::to_string(static_cast<int>(spec.audio)) + "|" +
                     std::to_string(spec.sample_rate) + "|" +
                     std::to_string(static_cast<int>(spec.layout)) + "|" + spec.seed_text;
  gchar *digest = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text.c_str(),
                                                static_cast<gssize>(text.size()));
  std::string key = digest;
  g_free(digest);
  return key;
}

// A hard link when the file system allows it (no copy of the clip), else a copy.
std::string place_copy(const std::string &from, const std::string &to) {
  std::error_code error;
  std::filesystem::remove(to, error);
  std::filesystem::create_hard_link(from, to, error);
  if (!error) return {};
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, error);
  return error ? "cannot place the clip: " + error.message() : std::string();
}

}  // namespace

RenderQueue::RenderQueue(std::string cache_dir, int threads)
    : cache_dir_(std::move(cache_dir)), pool_(threads) {}

void RenderQueue::render(const RenderSpec &spec, const std::string &path, Done done) {
  if (spec.first_frame || spec.last_frame) {
    pool_.post([this, spec, path, done] { render_one(spec, path, done); });
    return;
  }
  std::string key = cache_key_of(spec);
  std::string cached = cache_dir_ + "/" + key + ".mp4";
  {
    std::lock_guard<std::mutex> guard(lock_);
    auto waiting = in_flight_.find(key);
    if (waiting != in_flight_.end()) {
      waiting->second.push_back({path, std::move(done)});
      return;
    }
    if (!g_file_test(cached.c_str(), G_FILE_TEST_IS_REGULAR)) {
      in_flight_[key].push_back({path, std::move(done)});
      pool_.post([this, spec, key] { render_shared(spec, key); });
      return;
    }
  }
  pool_.post([cached, path, done] { done(place_copy(cached, path)); });
}

void RenderQueue::render_one(const RenderSpec &spec, const std::string &path, const Done &done) {
  try {
    render_clip(spec, path);
  } catch (const std::exception &e) {
    done(std::string("rendering failed: ") + e.what());
    return;
  }
  done({});
}

void RenderQueue::render_shared(const RenderSpec &spec, const std::string &key) {
  std::string cached = cache_dir_ + "/" + key + ".mp4";
  std::string error;
  try {
    render_clip(spec, cached);
  } catch (const std::exception &e) {
    error = std::string("rendering failed: ") + e.what();
  }
  std::vector<Waiter> waiters;
  {
    std::lock_guard<std::mutex> guard(lock_);
    waiters = std::move(in_flight_[key]);
    in_flight_.erase(key);
  }
  for (const auto &waiter : waiters)
    waiter.done(error.empty() ? place_copy(cached, waiter.path) : error);
}

}  // namespace see2ai::dev
