#define G_LOG_DOMAIN "see2ai"

#include "task_poller.h"

#include "error_mapping.h"
#include "poll_schedule.h"
#include "retry_policy.h"
#include "service_endpoints.h"

namespace see2ai {

TaskPoller::TaskPoller(const ClientConfig &config, RunControl &control, HttpTransport &transport)
    : config_(config), control_(control), transport_(transport) {}

void TaskPoller::set_expected_end(const EndWindow &window,
                                  RunControl::Clock::time_point submitted_at) {
  window_ = window;
  submitted_at_ = submitted_at;
}

TaskOutput TaskPoller::follow(const std::string &task_id, const std::optional<TaskOutput> &first,
                              bool unknown_is_expected,
                              const std::function<void(const TaskOutput &)> &on_answer) {
  PollSchedule schedule(config_.poll_interval_ms, window_);
  RetryPolicy policy(config_.retries);
  auto since_submit = [this] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(RunControl::Clock::now() -
                                                                 submitted_at_);
  };
  if (first) {
    on_answer(*first);
    if (is_terminal(first->state)) return *first;
    control_.sleep_or_throw(schedule.next(std::nullopt, since_submit()));
  }
  HttpRequest poll;
  poll.url = status_url(config_, task_id);
  for (int failures = 1;;) {
    control_.throw_if_stopped();
    std::optional<std::chrono::milliseconds> retry_after;
    std::string failure;
    std::string failure_detail;
    ErrorKind failure_kind = ErrorKind::Failed;
    int failure_status = 0;
    try {
      std::unique_ptr<HttpResponse> response = transport_.send(poll);
      int status = response->status();
      bool too_large = false;
      std::string body = response->read_body(kMaxAnswerBytes, &too_large);
      if (std::optional<std::string> value = response->header("Retry-After"))
        retry_after = parse_retry_after(*value);
      if (status == 200) {
        std::optional<TaskOutput> output;
        try {
          if (too_large) throw std::runtime_error("the answer is too large");
          output = parse_task_output(body);
        } catch (const std::exception &e) {
          // Proxies and gateways garble answers now and then; the task is unaffected.
          failure = std::string("unreadable status answer: ") + e.what();
          failure_status = status;
        }
        // Another task's answer (a cache or proxy mixing answers up) says nothing about this
        // one: its clip would be played and cached as this request's.
        if (output && output->task_id != task_id) {
          failure = "protocol error: the status answer for task " + task_id + " is about task " +
                    output->task_id;
          failure_status = status;
          output.reset();
        }
        if (output) {
          failures = 1;
          on_answer(*output);
          if (is_terminal(output->state)) return *output;
          control_.sleep_or_throw(schedule.next(retry_after, since_submit()));
          continue;
        }
      } else if (is_retryable_status(status)) {
        failure_detail = error_body_message(body);
        failure = with_detail(describe_status(status), failure_detail);
        failure_kind = kind_for_status(status);
        failure_status = status;
      } else if (status == 404 && unknown_is_expected) {
        throw TaskUnknown{};
      } else {
        std::string detail = error_body_message(body);
        throw ServiceError(
            kind_for_status(status),
            with_detail("status of task " + task_id + ": " + describe_status(status), detail),
            status, task_id, {}, detail);
      }
    } catch (const TransportError &e) {
      if (!is_retryable_transport(e.failure)) throw;
      failure = std::string("status of task ") + task_id + ": " + e.what();
      failure_kind = kind_for_transport(e.failure);
    }
    if (!policy.allows_retry(failures))
      throw ServiceError(failure_kind,
                         failure + " (gave up after " + std::to_string(failures - 1) + " retries)",
                         failure_status, task_id, {}, failure_detail);
    g_debug("status poll failed (%s); retrying", failure.c_str());
    wait_to_retry(control_, policy.delay(failures, retry_after),
                  ServiceError(failure_kind, failure, failure_status, task_id, {}, failure_detail));
    ++failures;
  }
}

}  // namespace see2ai
