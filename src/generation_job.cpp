#define G_LOG_DOMAIN "see2ai"

#include "generation_job.h"

#include <glib/gstdio.h>
#include <unistd.h>

#include <mutex>
#include <optional>
#include <set>

#include "cache_inventory.h"
#include "clip_cache.h"
#include "clip_check.h"
#include "downloader.h"
#include "error_mapping.h"
#include "growing_file.h"
#include "http_transport.h"
#include "play_hold.h"
#include "poll_schedule.h"
#include "request_record.h"
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
  TaskOutput generate(HttpTransport &transport, const std::string &refetch_task_id);
  TaskOutput refetch(HttpTransport &transport, const std::string &refetch_task_id);
  Submission submit(HttpTransport &transport);
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
  // The request record and the history beside the cache (nothing without a cache).
  void note_request();
  void expect_end(TaskPoller &poller);
  void note_finish(const TaskOutput &output);
  std::shared_ptr<PlayHold> hold_clip();
  void evict();

  ClientConfig config;
  GenerationRequest request;
  JobEvents &events;
  std::string attach_task_id;
  std::string cache_dir;
  CacheMode cache_mode = CacheMode::Reuse;
  uint64_t cache_max_bytes = 0;
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
  std::optional<RequestRecord> record;  // of the task followed now, when the cache has it
  std::optional<ExpectedDuration> expected;
  Clock::time_point submitted_at;  // of the task followed now (earlier than origin when resumed)
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
  record.reset();
  expected.reset();
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
    // A partial clip is no use to anyone and may be what filled the disk: it goes now (a reader
    // that has it open keeps its bytes until it lets go).
    for (auto &file : live_files) {
      if (file->complete()) continue;
      file->fail(failure->what());
      g_remove(file->path().c_str());
    }
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
  // The task of an entry whose clips are gone or damaged: they are fetched from it again.
  std::string refetch_task_id;
  if (cache && cache_mode == CacheMode::Reuse) {
    CacheLookup found = cache->lookup();
    if (found.hit) {
      JobResult result = from_cache(*found.hit, *cache);
      if (std::shared_ptr<PlayHold> hold = hold_clip())
        for (auto &file : result.files) file->keep_with(hold);
      return result;
    }
    if (!found.problem.empty()) events.on_warning(found.problem);
    refetch_task_id = found.refetch_task_id;
  }

  HttpTransport transport(config, control.cancellable(),
                          static_cast<unsigned>(std::max(0, config.read_timeout_s)));
  TaskOutput output = generate(transport, refetch_task_id);
  const bool refetching = !refetch_task_id.empty() && task_id == refetch_task_id;
  for (const std::string &url : output.result_urls)
    if (!is_http_url(url))
      throw ServiceError(
          ErrorKind::Failed,
          "the service gave a result URL that is not http or https: " + url + "; it is not fetched",
          0, task_id, state_text);

  // An entry being fetched again stays: a run that dies meanwhile finds it (and its damage) again.
  if (cache && !refetching) cache->forget();
  std::vector<std::shared_ptr<GrowingFile>> files;
  try {
    files = download_all(transport, output);
  } catch (const ServiceError &e) {
    const bool gone = e.http_status == 404 || e.http_status == 410;
    if (gone && refetching)
      throw ServiceError(ErrorKind::Failed,
                         std::string(e.what()) +
                             ": the cached clip of this request is missing or damaged and its "
                             "result URL has expired, so it cannot be fetched again; "
                             "cache-mode=refresh generates it anew (and is paid again)",
                         e.http_status, e.task_id, e.state, e.service_message);
    // Results that are gone (expired after about a day) never come back: waiting on this task
    // again is pointless, so the next run may submit anew.
    if (cache && gone) cache->remove_journal();
    throw;
  }
  if (cache) {
    if (std::shared_ptr<PlayHold> hold = hold_clip())
      for (auto &file : files) file->keep_with(hold);
    try {
      cache->store(output);
      cache->remove_journal();
    } catch (const std::exception &e) {
      // The clip is here and paid for: play it. The journal stays, so the next run re-attaches
      // and downloads again instead of submitting.
      events.on_warning(std::string(e.what()) + "; the clip is not cached");
    }
    note_finish(output);
    evict();
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

// The finished task: attached, resumed from the journal, the task of a damaged cache entry, or
// submitted now (at most once, and never while a submit of a run that died may have been charged).
TaskOutput GenerationJob::Impl::generate(HttpTransport &transport,
                                         const std::string &refetch_task_id) {
  if (!attach_task_id.empty()) {
    remember_task(attach_task_id, true);
    return follow(transport, std::nullopt, false);
  }
  std::optional<JournalEntry> journaled;
  if (cache) {
    std::string problem;
    journaled = cache->journal(&problem);
    if (!problem.empty()) events.on_warning(problem);
  }
  if (journaled && !journaled->task_id.empty()) {
    remember_task(journaled->task_id, true);
    try {
      return follow(transport, std::nullopt, true);
    } catch (const TaskUnknown &) {
      events.on_warning("the service does not know task " + journaled->task_id +
                        " from an earlier run; submitting anew");
      cache->remove_journal();
      journaled.reset();
      task_id.clear();
      state_text.clear();
      state_reported = false;
    }
  }
  if (!refetch_task_id.empty()) return refetch(transport, refetch_task_id);
  if (journaled) {
    // A run sent this request and died (or was stopped) before the answer named its task.
    gchar *when = nullptr;
    if (GDateTime *time =
            g_date_time_new_from_unix_local(journaled->written_at_us / G_USEC_PER_SEC)) {
      when = g_date_time_format(time, "%Y-%m-%d %H:%M:%S");
      g_date_time_unref(time);
    }
    std::string sent = std::string("a previous run sent this request to the service") +
                       (when ? std::string(" at ") + when : std::string()) +
                       " and ended before the answer named its task: it may already have been "
                       "charged";
    g_free(when);
    if (cache_mode != CacheMode::Refresh)
      throw ServiceError(ErrorKind::Failed,
                         sent +
                             ". Not submitting again: set task-id to that task to play it, or "
                             "cache-mode=refresh to submit anew (and possibly pay twice)");
    events.on_warning(sent + "; submitting anew, as cache-mode=refresh asks");
  }
  if (std::optional<FieldError> problem = validate(request))
    throw ServiceError(ErrorKind::Settings, problem->message);
  if (cache) note_request();
  events.on_submitting();
  origin = Clock::now();
  Submission submission = submit(transport);
  remember_task(submission.task_id, false);
  return follow(transport, submission.answer, false);
}

// The task of a cache entry whose clips are missing or damaged: attached again, not paid again.
TaskOutput GenerationJob::Impl::refetch(HttpTransport &transport,
                                        const std::string &refetch_task_id) {
  remember_task(refetch_task_id, true);
  try {
    return follow(transport, std::nullopt, true);
  } catch (const ServiceError &e) {
    // Only the task's final state (failed, expired, no result) says it has no clip to give.
    if (e.http_status != 200 || e.state.empty()) throw;
    throw ServiceError(
        e.kind,
        std::string(e.what()) +
            ": the cached clip of this request is missing or damaged and cannot be "
            "fetched again; cache-mode=refresh generates it anew (and is paid again)",
        e.http_status, e.task_id, e.state, e.service_message);
  } catch (const TaskUnknown &) {
    throw ServiceError(ErrorKind::Failed,
                       "the cached clip of this request is missing or damaged and the service no "
                       "longer knows its task " +
                           refetch_task_id +
                           ", so it cannot be fetched again; cache-mode=refresh generates it "
                           "anew (and is paid again)",
                       404, refetch_task_id);
  }
}

// The POST, recorded in the journal before it is sent: a run that dies while it is on its way, or
// while a sync submit waits for the clip, leaves a trace that stops the next run from paying
// again blindly.
Submission GenerationJob::Impl::submit(HttpTransport &transport) {
  if (cache) {
    try {
      cache->write_submit_pending();
    } catch (const CacheWriteError &e) {
      throw ServiceError(e.no_space ? ErrorKind::NoSpace : ErrorKind::Failed,
                         std::string(e.what()) +
                             "; nothing was submitted: a run that died after submitting could not "
                             "tell it had paid (free the disk, fix cache-dir, or use "
                             "cache-mode=off)");
    }
  }
  TaskSubmitter submitter(config, control);
  try {
    return submitter.submit(request, transport);
  } catch (...) {
    // Provably not taken on: the next run may submit.
    if (cache && !submitter.may_have_arrived()) cache->remove_journal();
    throw;
  }
}

TaskOutput GenerationJob::Impl::follow(HttpTransport &transport,
                                       const std::optional<TaskOutput> &first, bool from_journal) {
  TaskPoller poller(config, control, transport);
  expect_end(poller);
  TaskOutput output = poller.follow(task_id, first, from_journal,
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
  if (expected && !is_terminal(output.state)) {
    int64_t since_submit =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - submitted_at).count();
    events.on_estimate(output, estimate_time(*expected, since_submit));
  }
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
  Downloader downloader(transport, control, policy, config.max_result_bytes, clip_problem);
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

// Written before the submit, beside the journal: what was asked (for the cache command) and when.
void GenerationJob::Impl::note_request() {
  record = record_for(request, config);
  try {
    write_request_record(cache_dir, cache_key(request, config.api_url), *record);
  } catch (const std::exception &e) {
    g_debug("%s", e.what());
  }
}

// The history of this kind of task shapes the polls and gives progress its estimate. Times count
// from the task's submit: in a resumed run, the one its record notes (without a record, no
// estimate: the run's own start would understate the time spent).
void GenerationJob::Impl::expect_end(TaskPoller &poller) {
  submitted_at = origin;
  if (!cache) return;
  if (!record) record = read_request_record(cache_dir, cache_key(request, config.api_url));
  if (!record || record->submitted_at_us <= 0) return;
  auto age =
      std::chrono::microseconds(std::max<int64_t>(0, g_get_real_time() - record->submitted_at_us));
  submitted_at = Clock::now() - std::chrono::duration_cast<Clock::duration>(age);
  expected = expected_duration(
      cache_dir, TaskKind{model_id(request.model), request.resolution, request.duration});
  if (expected) poller.set_expected_end(end_window(*expected), submitted_at);
}

// The finished task joins the history: the service's own generation time when it gives one.
void GenerationJob::Impl::note_finish(const TaskOutput &output) {
  if (!record) return;
  int64_t now_us = g_get_real_time();
  record->finished_at_us = now_us;
  record->generation_ms = output.cost_time && *output.cost_time > 0
                              ? *output.cost_time
                              : (now_us - record->submitted_at_us) / 1000;
  try {
    write_request_record(cache_dir, cache_key(request, config.api_url), *record);
  } catch (const std::exception &e) {
    g_debug("%s", e.what());
  }
}

// Taken under the key's lock (this run's claim), so no prune can come between the lookup or the
// download and the hold.
std::shared_ptr<PlayHold> GenerationJob::Impl::hold_clip() {
  try {
    return std::make_shared<PlayHold>(cache_dir, cache_key(request, config.api_url));
  } catch (const std::exception &e) {
    events.on_warning(std::string(e.what()) + "; a prune meanwhile could remove the clip");
    return nullptr;
  }
}

void GenerationJob::Impl::evict() {
  if (cache_max_bytes == 0) return;
  try {
    PruneResult result =
        prune_cache(cache_dir, PruneRules{cache_max_bytes, std::nullopt}, g_get_real_time());
    g_debug("cache-max-size: %zu clips evicted, %" G_GUINT64_FORMAT " bytes left",
            result.removed.size(), result.bytes_after);
  } catch (const std::exception &e) {
    events.on_warning(std::string(e.what()) + "; the cache may stay above its size limit");
  }
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

void GenerationJob::set_cache_max_size(uint64_t bytes) {
  impl_->cache_max_bytes = bytes;
}

JobResult GenerationJob::run() {
  return impl_->run();
}

void GenerationJob::cancel() {
  impl_->cancel();
}

}  // namespace see2ai
