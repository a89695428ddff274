#include "shot_runner.h"

#include <algorithm>
#include <utility>

#include "service_error.h"

namespace see2ai {

ShotRunner::ShotRunner(Settings settings, Listener &listener)
    : settings_(std::move(settings)), listener_(listener) {
  settings_.max_parallel = std::max<size_t>(settings_.max_parallel, 1);
}

ShotRunner::~ShotRunner() {
  stop();
}

size_t ShotRunner::add(Shot shot) {
  size_t index;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    auto slot = std::make_unique<Slot>();
    slot->shot = std::move(shot);
    slots_.push_back(std::move(slot));
    index = slots_.size() - 1;
  }
  cond_.notify_all();
  return index;
}

size_t ShotRunner::size() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return slots_.size();
}

Shot ShotRunner::shot(size_t index) const {
  std::lock_guard<std::mutex> guard(mutex_);
  return slots_.at(index)->shot;
}

void ShotRunner::start() {
  std::lock_guard<std::mutex> guard(mutex_);
  stopping_ = false;
  for (size_t i = 0; i < settings_.max_parallel; ++i) workers_.emplace_back([this] { work(); });
}

void ShotRunner::cancel() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
    for (auto &slot : slots_)
      if (slot->job) slot->job->cancel();
  }
  cond_.notify_all();
}

void ShotRunner::stop() {
  cancel();
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    workers.swap(workers_);
  }
  cond_.notify_all();
  for (auto &worker : workers) worker.join();
}

std::optional<GenerationRequest> ShotRunner::request_for(size_t index, std::string *why) const {
  const Slot &slot = *slots_[index];
  if (!slot.shot.play.continue_previous) return slot.shot.request;
  const Slot &previous = *slots_[index - 1];
  if (!previous.clip_url) {
    *why = "shot " + std::to_string(index) + " continues shot " + std::to_string(index - 1) +
           ", which has no clip (it failed)";
    return std::nullopt;
  }
  return continued_request(slot.shot, *previous.clip_url);
}

// One worker: takes the next shot in order (a continuity shot once the one before it is done),
// runs its job to the end, hands the outcome to the listener, and goes on.
void ShotRunner::work() {
  std::unique_lock<std::mutex> guard(mutex_);
  for (;;) {
    cond_.wait(guard, [this] {
      if (stopping_) return true;
      if (next_ >= slots_.size()) return false;
      return !slots_[next_]->shot.play.continue_previous || slots_[next_ - 1]->done;
    });
    if (stopping_) return;
    const size_t index = next_++;
    Slot &slot = *slots_[index];
    std::string why;
    std::optional<GenerationRequest> request = request_for(index, &why);
    if (!request) {
      slot.done = true;
      guard.unlock();
      cond_.notify_all();
      listener_.shot_failed(index, ServiceError(ErrorKind::Settings, why));
      guard.lock();
      continue;
    }
    guard.unlock();
    JobEvents &events = listener_.shot_events(index);
    auto job = std::make_unique<GenerationJob>(settings_.client, std::move(*request), events);
    if (index == 0 && !settings_.attach_task_id.empty())
      job->set_attach_task_id(settings_.attach_task_id);
    if (settings_.cache_mode != CacheMode::Off && !settings_.cache_dir.empty()) {
      job->set_cache(settings_.cache_dir, settings_.cache_mode);
      job->set_cache_max_size(settings_.cache_max_size);
    }
    GenerationJob *running = job.get();
    guard.lock();
    slot.job = std::move(job);
    if (stopping_) running->cancel();
    guard.unlock();

    std::optional<JobResult> result;
    std::optional<ServiceError> failure;
    try {
      result = running->run();
    } catch (const ServiceError &error) {
      failure = error;
    } catch (const std::exception &error) {
      failure = ServiceError(ErrorKind::Failed, error.what());
    }
    if (result) {
      listener_.shot_succeeded(index, *result);
    } else {
      listener_.shot_failed(index, *failure);
    }

    guard.lock();
    if (result && !result->output.result_urls.empty())
      slot.clip_url = result->output.result_urls.front();
    slot.done = true;
    slot.job.reset();
    cond_.notify_all();
  }
}

}  // namespace see2ai
