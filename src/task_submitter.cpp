#define G_LOG_DOMAIN "see2ai"

#include "task_submitter.h"

#include <json-glib/json-glib.h>

#include "error_mapping.h"
#include "retry_policy.h"
#include "service_endpoints.h"
#include "untrusted_json.h"

namespace see2ai {
namespace {

// The task id of a sync 504 body ({"detail": ..., "task_id": ...}); empty when there is none.
std::string task_id_in_body(const std::string &body) {
  return untrusted_string_member(body, "task_id");
}

}  // namespace

TaskSubmitter::TaskSubmitter(const ClientConfig &config, RunControl &control)
    : config_(config), control_(control) {}

Submission TaskSubmitter::submit(const GenerationRequest &request, HttpTransport &transport) {
  HttpRequest post;
  post.method = "POST";
  post.url = submit_url(config_);
  post.json_body = to_json(request);
  // Never over a kept-alive connection: a stale one failing mid-send would make the outcome
  // ambiguous, and an ambiguous submit cannot be repeated.
  post.fresh_connection = true;
  std::optional<HttpTransport> sync_transport;
  if (request.sync) sync_transport.emplace(config_, control_.cancellable(), 0);
  HttpTransport &sender = request.sync ? *sync_transport : transport;
  RetryPolicy policy(config_.retries);

  may_have_arrived_ = false;
  for (int failures = 1;; ++failures) {
    control_.throw_if_stopped();
    std::optional<std::chrono::milliseconds> retry_after;
    std::string failure;
    std::string failure_detail;
    ErrorKind failure_kind = ErrorKind::Failed;
    try {
      may_have_arrived_ = true;
      std::unique_ptr<HttpResponse> response = sender.send(post);
      int status = response->status();
      bool too_large = false;
      std::string body = response->read_body(kMaxAnswerBytes, &too_large);
      // A refusal creates no task; a 5xx may come from a gateway whose service took it on.
      if (status >= 400 && status < 500) may_have_arrived_ = false;
      if (status == 429) {
        failure_detail = error_body_message(body);
        failure = with_detail(describe_status(429), failure_detail);
        failure_kind = ErrorKind::Busy;
        if (std::optional<std::string> value = response->header("Retry-After"))
          retry_after = parse_retry_after(*value);
      } else if (status == 200) {
        try {
          if (too_large) throw std::runtime_error("the answer is too large");
          TaskOutput output = parse_task_output(body);
          return Submission{output.task_id, output};
        } catch (const std::exception &e) {
          throw ServiceError(ErrorKind::Failed,
                             std::string("unreadable answer to the submit: ") + e.what(), status);
        }
      } else if (status == 504 && request.sync && !task_id_in_body(body).empty()) {
        g_debug("sync submit timed out at the service; following its task");
        return Submission{task_id_in_body(body), std::nullopt};
      } else {
        std::string detail = error_body_message(body);
        std::string failed_task, failed_state;
        try {
          TaskOutput output = parse_task_output(body);
          failed_task = output.task_id;
          failed_state = output.state_text;
          if (output.error_message) detail = *output.error_message;
          // The service's own word that its task ended without a result: nothing is charged.
          if (is_terminal(output.state) && output.state != TaskState::Succeeded)
            may_have_arrived_ = false;
        } catch (const std::exception &) {
          // Not an output object: the detail from error_body_message stands.
        }
        throw ServiceError(kind_for_status(status), with_detail(describe_status(status), detail),
                           status, failed_task, failed_state, detail);
      }
    } catch (const TransportError &e) {
      if (e.failure == TransportFailure::Interrupted)
        throw ServiceError(ErrorKind::Read,
                           std::string("the submit failed after reaching the service (") +
                               e.what() +
                               "); it is not sent again because the service may have received it");
      // Never connected, TLS refused, or not sent by policy: the service never saw it.
      if (e.failure != TransportFailure::Stopped) may_have_arrived_ = false;
      if (e.failure != TransportFailure::NotConnected) throw;
      failure = "could not reach " + config_.api_url + ": " + e.what();
      failure_kind = ErrorKind::OpenRead;
    }
    if (!policy.allows_retry(failures))
      throw ServiceError(failure_kind,
                         failure + " (gave up after " + std::to_string(failures - 1) + " retries)",
                         failure_kind == ErrorKind::Busy ? 429 : 0, {}, {}, failure_detail);
    g_debug("submit not accepted (%s); retrying", failure.c_str());
    wait_to_retry(control_, policy.delay(failures, retry_after),
                  ServiceError(failure_kind, failure, failure_kind == ErrorKind::Busy ? 429 : 0, {},
                               {}, failure_detail));
  }
}

}  // namespace see2ai
