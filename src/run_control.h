// RunControl: the cancellation and the overall deadline of one job run, shared by every blocking
// step: network calls use its GCancellable, waits between attempts wake on cancel or deadline.
#pragma once

#include <gio/gio.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace see2ai {

enum class StopReason { None, Cancelled, DeadlinePassed };

// Thrown out of a blocking step once the run is cancelled or past its deadline; the job turns it
// into ErrorKind::Cancelled or ErrorKind::Timeout.
struct RunStopped {};

class RunControl {
 public:
  using Clock = std::chrono::steady_clock;

  RunControl();
  ~RunControl();
  RunControl(const RunControl &) = delete;
  RunControl &operator=(const RunControl &) = delete;

  // Arms the deadline: when it passes, every network call and wait is interrupted.
  void start(Clock::time_point deadline);
  // Disarms the deadline (the run is over).
  void stop();
  // Thread-safe, idempotent, sticky: a cancelled control stays cancelled.
  void cancel();

  // Cancelled on cancel() or when the deadline passes. Valid until the next start().
  GCancellable *cancellable() const { return cancellable_; }
  StopReason stop_reason() const;
  Clock::time_point deadline() const { return deadline_; }

  // Waits `duration` unless stopped first; returns why it stopped early (None: it did not).
  StopReason sleep_for(std::chrono::milliseconds duration);
  // The same, throwing RunStopped instead of returning a reason.
  void sleep_or_throw(std::chrono::milliseconds duration);
  void throw_if_stopped() const;

 private:
  void watch();
  StopReason stop_reason_locked() const;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  GCancellable *cancellable_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool cancelled_ = false;
  bool deadline_passed_ = false;
  bool running_ = false;
  std::thread watchdog_;
};

}  // namespace see2ai
