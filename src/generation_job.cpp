#define G_LOG_DOMAIN "see2ai"

#include "generation_job.h"

#include <glib/gstdio.h>
#include <unistd.h>

#include <mutex>
#include <optional>
#include <set>

#include "clip_cache.h"
#include "downloader.h"
#include "error_mapping.h"
#include "growing_file.h"
#include "http_transport.h"
#include "retry_policy.h"
#include "run_control.h"
#include "service_error.h"
#include "task_poller.h"
#include "task_submitter.h"
#include "text_trim.h"

namespace see2ai {
namespace {

using Clock = RunControl::Clock;

// A clip without a cache: the file goes away with the last reference to it.
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

}  // namespace

struct GenerationJob::Impl {
  Impl(ClientConfig config, GenerationRequest request, JobEvents &events)
      : config(std::move(config)), request(std::move(request)), events(events) {}

  JobResult run();
  void cancel();

  JobResult run_steps();
  std::unique_ptr<KeyLock> claim_key();
  JobResult from_cache(const TaskOutput &output, const ClipCache &clips);
  TaskOutput generate(HttpTransport &transport);
  TaskOutput follow(HttpTransport &transport, const std::optional<TaskOutput> &first,
                    bool from_journal);
  void remember_task(const std::string &id, bool resumed);
  void report(const TaskOutput &output);
  void finish_task(const TaskOutput &output);
  std::vector<std::shared_ptr<GrowingFile>> download_all(HttpTransport &transport,
                                                         const TaskOutput &output);
  ServiceError finalize(ServiceError error) const;
  std::string scrub(const std::string &text) const;
  int64_t elapsed_ms() const;

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

std::string GenerationJob::Impl::scrub(const std::string &text) const {
  // A misbehaving server or proxy could echo the Authorization header back in a body.
  return replace_all(text, config.api_key, "<api-key>");
}

ServiceError GenerationJob::Impl::finalize(ServiceError error) const {
  std::string state = state_text.empty() ? "unknown" : state_text;
  switch (control.stop_reason()) {
    case StopReason::Cancelled:
      return ServiceError(ErrorKind::Cancelled, "cancelled", 0, task_id, state_text);
    case StopReason::DeadlinePassed: {
      std::string message =
          "no result within the timeout of " + std::to_string(config.timeout_s) + " s" +
          (task_id.empty() ? std::string() : " (task " + task_id + ", state " + state + ")");
      // A failure that was being retried when the time ran out (a stop has kind Cancelled).
      if (error.kind == ErrorKind::Cancelled)
        return ServiceError(ErrorKind::Timeout, message, 0, task_id, state_text);
      return ServiceError(ErrorKind::Timeout,
                          scrub(message + "; the last attempt: " + error.what()), error.http_status,
                          task_id, state_text, scrub(error.service_message));
    }
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
  } catch (const RunStopped &) {
    failure = finalize(ServiceError(ErrorKind::Cancelled, "stopped"));
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
  control.throw_if_stopped();
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
  // Held until this run returns: its clip is stored (or it failed) before a twin looks.
  std::unique_ptr<KeyLock> claim = cache ? claim_key() : nullptr;
  if (cache && cache_mode == CacheMode::Reuse) {
    std::string problem;
    std::optional<TaskOutput> cached = cache->lookup(&problem);
    if (cached) return from_cache(*cached, *cache);
    if (!problem.empty()) events.on_warning(problem);
  }

  HttpTransport transport(config, control.cancellable(),
                          static_cast<unsigned>(std::max(0, config.read_timeout_s)));
  TaskOutput output = generate(transport);

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

std::unique_ptr<KeyLock> GenerationJob::Impl::claim_key() {
  constexpr std::chrono::milliseconds kRecheck{50};
  try {
    std::unique_ptr<KeyLock> lock = cache->key_lock();
    if (lock->try_acquire()) return lock;
    events.on_waiting_for_other_run();
    do control.sleep_or_throw(kRecheck);
    while (!lock->try_acquire());
    return lock;
  } catch (const std::runtime_error &e) {
    events.on_warning(std::string(e.what()) +
                      "; a second run of this request at the same time would pay again");
    return nullptr;
  }
}

// The finished task: attached, resumed from the journal, or submitted now (at most once).
TaskOutput GenerationJob::Impl::generate(HttpTransport &transport) {
  if (!attach_task_id.empty()) {
    remember_task(attach_task_id, true);
    return follow(transport, std::nullopt, false);
  }
  std::optional<std::string> journaled;
  if (cache) {
    std::string problem;
    journaled = cache->journal_task(&problem);
    if (!problem.empty()) events.on_warning(problem);
  }
  if (journaled) {
    remember_task(*journaled, true);
    try {
      return follow(transport, std::nullopt, true);
    } catch (const TaskUnknown &) {
      events.on_warning("the service does not know task " + *journaled +
                        " from an earlier run; submitting anew");
      cache->remove_journal();
      task_id.clear();
      state_text.clear();
      state_reported = false;
    }
  }
  if (std::optional<FieldError> problem = validate(request))
    throw ServiceError(ErrorKind::Settings, problem->message);
  events.on_submitting();
  origin = Clock::now();
  Submission submission = TaskSubmitter(config, control).submit(request, transport);
  remember_task(submission.task_id, false);
  return follow(transport, submission.answer, false);
}

TaskOutput GenerationJob::Impl::follow(HttpTransport &transport,
                                       const std::optional<TaskOutput> &first, bool from_journal) {
  TaskOutput output = TaskPoller(config, control, transport)
                          .follow(task_id, first, from_journal,
                                  [this](const TaskOutput &answer) { report(answer); });
  finish_task(output);
  return output;
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

void GenerationJob::Impl::report(const TaskOutput &output) {
  std::string text = output.service_state();
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

std::vector<std::shared_ptr<GrowingFile>> GenerationJob::Impl::download_all(
    HttpTransport &transport, const TaskOutput &output) {
  RetryPolicy policy(config.retries);
  Downloader downloader(transport, control, policy);
  std::vector<std::shared_ptr<GrowingFile>> files;
  for (size_t i = 0; i < output.result_urls.size(); ++i) {
    control.throw_if_stopped();
    std::shared_ptr<GrowingFile> file = cache ? cache->create_clip(i) : temporary_clip_file();
    {
      std::lock_guard<std::mutex> lock(files_mutex);
      live_files.push_back(file);
    }
    downloader.download(output.result_urls[i], *file, [&] { events.on_download_started(i, file); });
    files.push_back(file);
  }
  return files;
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
