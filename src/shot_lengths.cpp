#include "shot_lengths.h"

#include <utility>

namespace see2ai {

int64_t shot_length_ns(const ClipInfo &info) {
  if (info.video && info.video->duration_ns > 0) return info.video->duration_ns;
  return info.duration_ns > 0 ? info.duration_ns : -1;
}

void ShotLengths::clear() {
  std::lock_guard<std::mutex> guard(mutex_);
  known_.clear();
}

int64_t ShotLengths::length_of(const std::shared_ptr<GrowingFile> &file) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    auto known = known_.find(file);
    if (known != known_.end()) return known->second;
  }
  // Read without the lock: a demuxer open on a large file must not hold up other queries.
  int64_t length = -1;
  try {
    length = shot_length_ns(ClipDecoder(file, 1).info());
  } catch (const MediaError &) {
    return -1;
  }
  if (length <= 0) return -1;
  std::lock_guard<std::mutex> guard(mutex_);
  known_[file] = length;
  return length;
}

std::vector<ShotLengths::Placed> ShotLengths::place(
    std::vector<std::shared_ptr<GrowingFile>> ready) {
  std::vector<Placed> placed;
  uint64_t start = 0;
  for (auto &file : ready) {
    const int64_t length = length_of(file);
    if (length <= 0) break;
    placed.push_back(Placed{placed.size(), start, static_cast<uint64_t>(length), std::move(file)});
    start += static_cast<uint64_t>(length);
  }
  return placed;
}

std::optional<ShotLengths::Placed> ShotLengths::landing(
    std::vector<std::shared_ptr<GrowingFile>> ready, uint64_t target_ns) {
  for (auto &shot : place(std::move(ready)))
    if (target_ns < shot.start_ns + shot.length_ns) return std::move(shot);
  return std::nullopt;
}

int64_t ShotLengths::total(std::vector<std::shared_ptr<GrowingFile>> ready, size_t shot_count) {
  const std::vector<Placed> placed = place(std::move(ready));
  if (placed.empty() || placed.size() != shot_count) return -1;
  return static_cast<int64_t>(placed.back().start_ns + placed.back().length_ns);
}

}  // namespace see2ai
