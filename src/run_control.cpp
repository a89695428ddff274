#include "run_control.h"

namespace see2ai {

RunControl::RunControl() : cancellable_(g_cancellable_new()) {}

RunControl::~RunControl() {
  stop();
  g_object_unref(cancellable_);
}

void RunControl::start(Clock::time_point deadline) {
  stop();
  std::lock_guard<std::mutex> lock(mutex_);
  if (deadline_passed_) {
    // The previous run's deadline cancelled the old GCancellable; it cannot be un-cancelled.
    g_object_unref(cancellable_);
    cancellable_ = g_cancellable_new();
    deadline_passed_ = false;
  }
  if (cancelled_) g_cancellable_cancel(cancellable_);
  deadline_ = deadline;
  running_ = true;
  watchdog_ = std::thread(&RunControl::watch, this);
}

void RunControl::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = false;
  }
  wake_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

void RunControl::cancel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
    g_cancellable_cancel(cancellable_);
  }
  wake_.notify_all();
}

StopReason RunControl::stop_reason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stop_reason_locked();
}

StopReason RunControl::stop_reason_locked() const {
  if (cancelled_) return StopReason::Cancelled;
  // The clock decides, not the watchdog's wake-up, which may come a little late.
  if (deadline_passed_ || (running_ && Clock::now() >= deadline_))
    return StopReason::DeadlinePassed;
  return StopReason::None;
}

StopReason RunControl::sleep_for(std::chrono::milliseconds duration) {
  std::unique_lock<std::mutex> lock(mutex_);
  Clock::time_point until = Clock::now() + duration;
  wake_.wait_until(lock, std::min(until, deadline_),
                   [&] { return cancelled_ || deadline_passed_ || Clock::now() >= until; });
  return stop_reason_locked();
}

void RunControl::sleep_or_throw(std::chrono::milliseconds duration) {
  if (sleep_for(duration) != StopReason::None) throw RunStopped{};
}

void RunControl::throw_if_stopped() const {
  if (stop_reason() != StopReason::None) throw RunStopped{};
}

void RunControl::watch() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!wake_.wait_until(lock, deadline_, [&] { return !running_ || cancelled_; })) {
    deadline_passed_ = true;
    g_cancellable_cancel(cancellable_);
    lock.unlock();
    wake_.notify_all();
  }
}

}  // namespace see2ai
