#include "shot_sequence.h"

#include <utility>

namespace see2ai {

ShotSequence::~ShotSequence() {
  end();
}

void ShotSequence::begin(const ShotRunner::Settings &settings, ShotRunner::Listener &listener,
                         std::vector<Shot> shots) {
  std::lock_guard<std::mutex> guard(mutex_);
  runner_ = std::make_unique<ShotRunner>(settings, listener);
  chapters_.clear();
  for (auto &shot : shots) add_locked(std::move(shot));
}

void ShotSequence::start() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (runner_) runner_->start();
}

std::optional<size_t> ShotSequence::next_index() const {
  std::lock_guard<std::mutex> guard(mutex_);
  if (!runner_) return std::nullopt;
  return runner_->size();
}

std::optional<size_t> ShotSequence::append(Shot shot) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (!runner_) return std::nullopt;
  return add_locked(std::move(shot));
}

size_t ShotSequence::add_locked(Shot shot) {
  const size_t index = playlist_.add_shot();
  chapters_.plan(index, shot_title(shot, index), planned_shot_length_ns(shot.request.duration));
  runner_->add(std::move(shot));
  return index;
}

Shot ShotSequence::shot(size_t index) const {
  std::lock_guard<std::mutex> guard(mutex_);
  return runner_ && index < runner_->size() ? runner_->shot(index) : Shot{};
}

void ShotSequence::played(size_t index, uint64_t start_ns, uint64_t length_ns) {
  std::lock_guard<std::mutex> guard(mutex_);
  chapters_.played(index, start_ns, length_ns);
}

void ShotSequence::skipped(size_t index) {
  std::lock_guard<std::mutex> guard(mutex_);
  chapters_.skipped(index);
}

std::vector<Chapter> ShotSequence::chapters() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return chapters_.chapters();
}

void ShotSequence::cancel() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (runner_) runner_->cancel();
}

void ShotSequence::end() {
  std::unique_ptr<ShotRunner> done;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    done = std::move(runner_);
  }
  // Joined without the lock: a job ending calls the listener, which may read the sequence.
  if (done) done->stop();
}

}  // namespace see2ai
