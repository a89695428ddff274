// TaskPoller: follows one task through status polls until its state is final: adaptive interval and
// server hints between polls, failed polls retried within the policy, each answer handed on.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "client_config.h"
#include "http_transport.h"
#include "poll_schedule.h"
#include "run_control.h"
#include "task_output.h"

namespace see2ai {

// The service does not know the task (404 on its status).
struct TaskUnknown {};

class TaskPoller {
 public:
  TaskPoller(const ClientConfig &config, RunControl &control, HttpTransport &transport);

  // Polls sparsely until `window` (times since `submitted_at`) and densely within it; without
  // this, the adaptive schedule. A fixed poll interval in the config wins over both.
  void set_expected_end(const EndWindow &window, RunControl::Clock::time_point submitted_at);

  // Polls `task_id` until its state is terminal and returns that answer. `first` (a submit's
  // answer) is handed on first and the first poll waits one interval. Every parsed answer about
  // `task_id` goes to `on_answer`; one about another task is a protocol error, retried like an
  // unreadable answer. A 404 throws TaskUnknown when `unknown_is_expected`, else a ServiceError.
  // Throws ServiceError, TransportError or RunStopped.
  TaskOutput follow(const std::string &task_id, const std::optional<TaskOutput> &first,
                    bool unknown_is_expected,
                    const std::function<void(const TaskOutput &)> &on_answer);

 private:
  const ClientConfig &config_;
  RunControl &control_;
  HttpTransport &transport_;
  std::optional<EndWindow> window_;
  RunControl::Clock::time_point submitted_at_;
};

}  // namespace see2ai
