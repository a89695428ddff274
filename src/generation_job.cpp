#define G_LOG_DOMAIN "see2ai"

#include "generation_job.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <unistd.h>

#include <mutex>
#include <optional>
#include <set>

#include "clip_cache.h"
#include "downloader.h"
#include "error_mapping.h"
#include "growing_file.h"
#include "http_transport.h"
#include "poll_schedule.h"
#include "retry_policy.h"
#include "run_control.h"
#include "service_error.h"

namespace see2ai {
namespace {

using Clock = RunControl::Clock;

constexpr size_t kMaxAnswerBytes = 1024 * 1024;
constexpr const char *kSubmitPath = "/api/v1/actions/see2ai_video_generation_v1";

// A task from the journal that the service does not know (any more): safe to submit anew.
struct TaskUnknown {};

std::string without_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string replace_all(std::string text, const std::string &what, const std::string &with) {
  if (what.empty()) return text;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size()))
    text.replace(at, what.size(), with);
  return text;
}

// The task id of a sync 504 body ({"detail": ..., "task_id": ...}); empty when there is none.
std::string task_id_in_body(const std::string &body) {
  JsonParser *parser = json_parser_new();
  std::string task_id;
  if (json_parser_load_from_data(parser, body.data(), static_cast<gssize>(body.size()), nullptr)) {
    JsonNode *root = json_parser_get_root(parser);
    if (root && JSON_NODE_HOLDS_OBJECT(root)) {
      JsonNode *member = json_object_get_member(json_node_get_object(root), "task_id");
      if (member && JSON_NODE_HOLDS_VALUE(member) &&
          json_node_get_value_type(member) == G_TYPE_STRING)
        task_id = json_node_get_string(member);
    }
  }
  g_object_unref(parser);
  return task_id;
}

std::string refusal_text(int status) {
  switch (status) {
    case 400:
      return "the service rejected the request (HTTP 400)";
    case 401:
      return "the service refused the API key (HTTP 401)";
    case 402:
      return "the tenant's balance is too low for this request (HTTP 402)";
    case 429:
      return "the service is busy (HTTP 429)";
    default:
      return "the service answered HTTP " + std::to_string(status);
  }
}

std::string with_detail(const std::string &text, const std::string &detail) {
  return detail.empty() ? text : text + ": " + detail;
}

// A temporary clip (no cache): the file goes away with the last reference to it.
std::shared_ptr<GrowingFile> temporary_clip_file() {
  gchar *path = nullptr;
  GError *error = nullptr;
  int fd = g_file_open_tmp("see2ai-clip-XXXXXX.mp4", &path, &error);
  if (fd < 0) {
    std::string message = error->message;
    g_error_free(error);
    throw ServiceError(ErrorKind::Read, "cannot create a temporary file: " + message);
  }
  close(fd);
  std::string name = path;
  g_free(path);
  return std::shared_ptr<GrowingFile>(new GrowingFile(name), [](GrowingFile *file) {
    std::string doomed = file->path();
    delete file;
    g_remove(doomed.c_str());
  });
}

// A cache clip file, empty. An older clip at the same path is unlinked, not truncated, so a reader
// still playing it keeps its bytes.
std::shared_ptr<GrowingFile> cache_clip_file(const std::string &path) {
  g_remove(path.c_str());
  int fd = g_open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw ServiceError(ErrorKind::Read, "cannot create " + path);
  close(fd);
  return std::make_shared<GrowingFile>(path);
}

}  // namespace

struct GenerationJob::Impl {
  Impl(ClientConfig config, GenerationRequest request, JobEvents &events)
      : config(std::move(config)), request(std::move(request)), events(events) {}

  JobResult run();
  void cancel();

  JobResult run_steps();
  JobResult from_cache(const TaskOutput &output, const ClipCache &cache);
  // The submit's answer; nothing when only the task id is known (a sync 504).
  std::optional<TaskOutput> submit(HttpTransport &transport);
  TaskOutput follow(HttpTransport &transport, const std::optional<TaskOutput> &first,
                    bool from_journal);
  void report(const TaskOutput &output);
  void finish_task(const TaskOutput &output);
  std::vector<std::shared_ptr<GrowingFile>> download_all(HttpTransport &transport,
                                                         const TaskOutput &output);
  void remember_task(const std::string &id, bool resumed);
  void check_stop();
  ServiceError finalize(ServiceError error);
  std::string scrub(const std::string &text) const;
  int64_t elapsed_ms() const;
  std::string status_url() const;

  ClientConfig config;
  GenerationRequest request;
  JobEvents &events;
  std::string attach_task_id;
  std::string cache_dir;
  CacheMode cache_mode = CacheMode::Reuse;
  RunControl control;

  std::mutex files_mutex;  // live_files is reached from cancel()
  std::vector<std::shared_ptr<GrowingFile>> live_files;

  // The run in progress.
  std::optional<ClipCache> cache;
  std::string task_id;
  std::string state_text;
  bool state_reported = false;
  std::set<std::string> warned;
  Clock::time_point origin;
};

int64_t GenerationJob::Impl::elapsed_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - origin).count();
}

std::string GenerationJob::Impl::status_url() const {
  gchar *escaped = g_uri_escape_string(task_id.c_str(), nullptr, FALSE);
  std::string path = replace_all(config.status_path, "{task_id}", escaped);
  g_free(escaped);
  return without_trailing_slash(config.api_url) + path;
}

std::string GenerationJob::Impl::scrub(const std::string &text) const {
  // A misbehaving server or proxy could echo the Authorization header back in a body.
  return replace_all(text, config.api_key, "<api-key>");
}

void GenerationJob::Impl::check_stop() {
  if (control.stop_reason() != StopReason::None)
    throw TransportError(TransportFailure::Stopped, "stopped");
}

ServiceError GenerationJob::Impl::finalize(ServiceError error) {
  switch (control.stop_reason()) {
    case StopReason::Cancelled:
      return ServiceError(ErrorKind::Cancelled, "cancelled", 0, task_id, state_text);
    case StopReason::DeadlinePassed:
      return ServiceError(
          ErrorKind::Timeout,
          "no result within the timeout of " + std::to_string(config.timeout_s) + " s" +
              (task_id.empty() ? std::string()
                               : " (task " + task_id + ", state " +
                                     (state_text.empty() ? "unknown" : state_text) + ")"),
          0, task_id, state_text);
    case StopReason::None:
      break;
  }
  if (error.task_id.empty()) error.task_id = task_id;
  if (error.state.empty()) error.state = state_text;
  std::string message = error.what();
  if (!error.task_id.empty() && message.find(error.task_id) == std::string::npos)
    message += " (task " + error.task_id + ")";
  return ServiceError(error.kind, scrub(message), error.http_status, error.task_id, error.state,
                      scrub(error.service_message));
}

JobResult GenerationJob::Impl::run() {
  task_id.clear();
  state_text.clear();
  state_reported = false;
  warned.clear();
  cache.reset();
  origin = Clock::now();
  Clock::time_point deadline = config.timeout_s > 0
                                   ? origin + std::chrono::seconds(config.timeout_s)
                                   : origin + std::chrono::hours(24 * 365);
  control.start(deadline);
  std::optional<ServiceError> failure;
  try {
    JobResult result = run_steps();
    control.stop();
    std::lock_guard<std::mutex> lock(files_mutex);
    live_files.clear();
    return result;
  } catch (const ServiceError &e) {
    failure = finalize(e);
  } catch (const TransportError &e) {
    failure = finalize(ServiceError(kind_for_transport(e.failure), e.what()));
  } catch (const std::exception &e) {
    failure = finalize(ServiceError(ErrorKind::Failed, e.what()));
  }
  control.stop();
  {
    std::lock_guard<std::mutex> lock(files_mutex);
    for (auto &file : live_files)
      if (!file->complete()) file->fail(failure->what());
    live_files.clear();
  }
  g_debug("job failed: %s", failure->what());
  throw *failure;
}

void GenerationJob::Impl::cancel() {
  control.cancel();
  std::lock_guard<std::mutex> lock(files_mutex);
  for (auto &file : live_files) file->cancel();
}

JobResult GenerationJob::Impl::run_steps() {
  check_stop();
  // An attached task may belong to any request: it is neither looked up nor stored under this
  // request's key, and it has no journal.
  if (!cache_dir.empty() && cache_mode != CacheMode::Off && attach_task_id.empty()) {
    cache.emplace(cache_dir, cache_key(request, config.api_url));
    try {
      cache->prepare();
    } catch (const std::exception &e) {
      events.on_warning(std::string(e.what()) + "; continuing without the cache");
      cache.reset();
    }
  }
  if (cache && cache_mode == CacheMode::Reuse) {
    std::string problem;
    std::optional<TaskOutput> cached = cache->lookup(&problem);
    if (cached) return from_cache(*cached, *cache);
    if (!problem.empty()) events.on_warning(problem);
  }

  HttpTransport transport(config, control.cancellable(),
                          static_cast<unsigned>(std::max(0, config.read_timeout_s)));
  TaskOutput output;
  if (!attach_task_id.empty()) {
    remember_task(attach_task_id, true);
    output = follow(transport, std::nullopt, false);
  } else {
    std::optional<std::string> journaled;
    if (cache) {
      std::string problem;
      journaled = cache->journal_task(&problem);
      if (!problem.empty()) events.on_warning(problem);
    }
    bool resumed = false;
    if (journaled) {
      remember_task(*journaled, true);
      try {
        output = follow(transport, std::nullopt, true);
        resumed = true;
      } catch (const TaskUnknown &) {
        events.on_warning("the service does not know task " + *journaled +
                          " from an earlier run; submitting anew");
        cache->remove_journal();
        task_id.clear();
        state_text.clear();
        state_reported = false;
      }
    }
    if (!resumed) {
      output = follow(transport, submit(transport), false);
    }
  }

  if (cache) cache->forget();
  std::vector<std::shared_ptr<GrowingFile>> files;
  try {
    files = download_all(transport, output);
  } catch (const ServiceError &e) {
    // Results that are gone (expired after about a day) never come back: waiting on this task
    // again is pointless, so the next run may submit anew.
    if (cache && (e.http_status == 404 || e.http_status == 410)) cache->remove_journal();
    throw;
  }
  if (cache) {
    try {
      cache->store(output);
      cache->remove_journal();
    } catch (const std::exception &e) {
      // The clip is here and paid for: play it. The journal stays, so the next run re-attaches
      // and downloads again instead of submitting.
      events.on_warning(std::string(e.what()) + "; the clip is not cached");
    }
  }
  return JobResult{output, files, false};
}

JobResult GenerationJob::Impl::from_cache(const TaskOutput &output, const ClipCache &clips) {
  task_id = output.task_id;
  state_text = output.state_text;
  events.on_task_id(output.task_id, true);
  events.on_cache_hit(output);
  events.on_state(output, 0);
  JobResult result{output, {}, true};
  for (size_t i = 0; i < output.result_urls.size(); ++i) {
    auto file = std::make_shared<GrowingFile>(clips.clip_path(i));
    GStatBuf st;
    if (g_stat(file->path().c_str(), &st) == 0) {
      file->set_expected_size(static_cast<uint64_t>(st.st_size));
      file->advance(static_cast<uint64_t>(st.st_size));
    }
    file->finish();
    events.on_download_started(i, file);
    result.files.push_back(file);
  }
  g_debug("clip for task %s served from the cache", output.task_id.c_str());
  return result;
}

void GenerationJob::Impl::remember_task(const std::string &id, bool resumed) {
  task_id = id;
  // Written before any wait so that a run that dies from here on is resumed, not re-submitted.
  if (cache && !resumed) {
    try {
      cache->write_journal(id);
    } catch (const std::exception &e) {
      // The task is submitted and will be paid for: failing now would waste it.
      events.on_warning(std::string(e.what()) + "; a run that dies now cannot be resumed");
    }
  }
  events.on_task_id(id, resumed);
}

std::optional<TaskOutput> GenerationJob::Impl::submit(HttpTransport &transport) {
  if (std::optional<FieldError> problem = validate(request))
    throw ServiceError(ErrorKind::Settings, problem->message);
  events.on_submitting();
  origin = Clock::now();
  HttpRequest post;
  post.method = "POST";
  post.url = without_trailing_slash(config.api_url) + kSubmitPath;
  post.json_body = to_json(request);
  // Never over a kept-alive connection: a stale one failing mid-send would make the outcome
  // ambiguous, and an ambiguous submit cannot be repeated.
  post.fresh_connection = true;
  // A sync POST is silent until the task ends; only the overall deadline bounds it.
  std::optional<HttpTransport> sync_transport;
  if (request.sync) sync_transport.emplace(config, control.cancellable(), 0);
  HttpTransport &sender = request.sync ? *sync_transport : transport;
  RetryPolicy policy(config.retries);

  for (int failures = 1;; ++failures) {
    check_stop();
    std::optional<std::chrono::milliseconds> retry_after;
    std::string failure;
    ErrorKind failure_kind = ErrorKind::Failed;
    try {
      std::unique_ptr<HttpResponse> response = sender.send(post);
      int status = response->status();
      bool too_large = false;
      std::string body = response->read_body(kMaxAnswerBytes, &too_large);
      if (status == 429) {
        failure = refusal_text(429);
        failure_kind = ErrorKind::Busy;
        if (std::optional<std::string> value = response->header("Retry-After"))
          retry_after = parse_retry_after(*value);
      } else if (status == 200) {
        TaskOutput output;
        try {
          if (too_large) throw std::runtime_error("the answer is too large");
          output = parse_task_output(body);
        } catch (const std::exception &e) {
          throw ServiceError(ErrorKind::Failed,
                             std::string("unreadable answer to the submit: ") + e.what(), status);
        }
        remember_task(output.task_id, false);
        return output;
      } else if (status == 504 && request.sync && !task_id_in_body(body).empty()) {
        remember_task(task_id_in_body(body), false);
        g_debug("sync submit timed out at the service; following task %s", task_id.c_str());
        return std::nullopt;
      } else {
        std::string detail = error_body_message(body);
        std::string failed_task, failed_state;
        try {
          TaskOutput output = parse_task_output(body);
          failed_task = output.task_id;
          failed_state = output.state_text;
          if (output.error_message) detail = *output.error_message;
        } catch (const std::exception &) {
          // Not an output object: the detail from error_body_message stands.
        }
        throw ServiceError(kind_for_status(status), with_detail(refusal_text(status), detail),
                           status, failed_task, failed_state, detail);
      }
    } catch (const TransportError &e) {
      if (e.failure == TransportFailure::Interrupted)
        throw ServiceError(ErrorKind::Read,
                           std::string("the submit failed after reaching the service (") +
                               e.what() +
                               "); it is not sent again because the service may have received it");
      if (e.failure != TransportFailure::NotConnected) throw;
      failure = "could not reach " + config.api_url + ": " + e.what();
      failure_kind = ErrorKind::OpenRead;
    }
    if (!policy.allows_retry(failures))
      throw ServiceError(failure_kind,
                         failure + " (gave up after " + std::to_string(failures - 1) + " retries)",
                         failure_kind == ErrorKind::Busy ? 429 : 0);
    g_debug("submit not accepted (%s); retrying", failure.c_str());
    if (control.sleep_for(policy.delay(failures, retry_after)) != StopReason::None) check_stop();
  }
}

void GenerationJob::Impl::report(const TaskOutput &output) {
  std::string text = output.state_text.empty() ? state_name(output.state) : output.state_text;
  for (const std::string &warning : output.warnings)
    if (warned.insert(warning).second) events.on_warning(warning);
  if (state_reported && text == state_text) return;
  state_text = text;
  state_reported = true;
  events.on_state(output, elapsed_ms());
}

void GenerationJob::Impl::finish_task(const TaskOutput &output) {
  if (output.state == TaskState::Succeeded) {
    if (output.result_urls.empty())
      throw ServiceError(ErrorKind::Failed, "task " + task_id + " succeeded without result_urls",
                         200, task_id, state_text);
    return;
  }
  // The task is over and cost nothing: the next run of this request may submit again.
  if (cache) cache->remove_journal();
  std::string detail = output.error_message.value_or("");
  throw ServiceError(ErrorKind::Failed,
                     with_detail("task " + task_id + " ended " + state_text, detail), 200, task_id,
                     state_text, detail);
}

TaskOutput GenerationJob::Impl::follow(HttpTransport &transport,
                                       const std::optional<TaskOutput> &first, bool from_journal) {
  PollSchedule schedule(config.poll_interval_ms);
  RetryPolicy policy(config.retries);
  if (first) {
    report(*first);
    if (is_terminal(first->state)) {
      finish_task(*first);
      return *first;
    }
    if (control.sleep_for(schedule.next(std::nullopt)) != StopReason::None) check_stop();
  }
  HttpRequest poll;
  poll.url = status_url();
  for (int failures = 1;;) {
    check_stop();
    std::optional<std::chrono::milliseconds> retry_after;
    std::string failure;
    ErrorKind failure_kind = ErrorKind::Failed;
    int failure_status = 0;
    try {
      std::unique_ptr<HttpResponse> response = transport.send(poll);
      int status = response->status();
      bool too_large = false;
      std::string body = response->read_body(kMaxAnswerBytes, &too_large);
      if (std::optional<std::string> value = response->header("Retry-After"))
        retry_after = parse_retry_after(*value);
      if (status == 200) {
        try {
          if (too_large) throw std::runtime_error("the answer is too large");
          TaskOutput output = parse_task_output(body);
          failures = 1;
          report(output);
          if (is_terminal(output.state)) {
            finish_task(output);
            return output;
          }
          if (control.sleep_for(schedule.next(retry_after)) != StopReason::None) check_stop();
          continue;
        } catch (const ServiceError &) {
          throw;
        } catch (const std::exception &e) {
          // Proxies and gateways garble answers now and then; the task is unaffected.
          failure = std::string("unreadable status answer: ") + e.what();
          failure_status = status;
        }
      } else if (is_retryable_status(status)) {
        failure = with_detail(refusal_text(status), error_body_message(body));
        failure_kind = kind_for_status(status);
        failure_status = status;
      } else if (status == 404 && from_journal) {
        throw TaskUnknown{};
      } else {
        std::string detail = error_body_message(body);
        throw ServiceError(
            kind_for_status(status),
            with_detail("status of task " + task_id + ": " + refusal_text(status), detail), status,
            task_id, state_text, detail);
      }
    } catch (const TransportError &e) {
      if (!is_retryable_transport(e.failure)) throw;
      failure = std::string("status of task ") + task_id + ": " + e.what();
      failure_kind = kind_for_transport(e.failure);
    }
    if (!policy.allows_retry(failures))
      throw ServiceError(failure_kind,
                         failure + " (gave up after " + std::to_string(failures - 1) + " retries)",
                         failure_status, task_id, state_text);
    g_debug("status poll failed (%s); retrying", failure.c_str());
    if (control.sleep_for(policy.delay(failures, retry_after)) != StopReason::None) check_stop();
    ++failures;
  }
}

std::vector<std::shared_ptr<GrowingFile>> GenerationJob::Impl::download_all(
    HttpTransport &transport, const TaskOutput &output) {
  RetryPolicy policy(config.retries);
  Downloader downloader(transport, control, policy);
  std::vector<std::shared_ptr<GrowingFile>> files;
  for (size_t i = 0; i < output.result_urls.size(); ++i) {
    check_stop();
    std::shared_ptr<GrowingFile> file =
        cache ? cache_clip_file(cache->clip_path(i)) : temporary_clip_file();
    {
      std::lock_guard<std::mutex> lock(files_mutex);
      live_files.push_back(file);
    }
    downloader.download(output.result_urls[i], *file, [&] { events.on_download_started(i, file); });
    files.push_back(file);
  }
  return files;
}

GenerationJob::GenerationJob(ClientConfig config, GenerationRequest request, JobEvents &events)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(request), events)) {}

GenerationJob::~GenerationJob() = default;

void GenerationJob::set_attach_task_id(std::string task_id) {
  impl_->attach_task_id = std::move(task_id);
}

void GenerationJob::set_cache(std::string cache_dir, CacheMode mode) {
  impl_->cache_dir = std::move(cache_dir);
  impl_->cache_mode = mode;
}

JobResult GenerationJob::run() {
  return impl_->run();
}

void GenerationJob::cancel() {
  impl_->cancel();
}

}  // namespace see2ai
