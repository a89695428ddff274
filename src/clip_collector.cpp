#define G_LOG_DOMAIN "see2ai"

#include "clip_collector.h"

#include <glib.h>

#include <memory>
#include <optional>

#include "clip_cache.h"
#include "clip_check.h"
#include "downloader.h"
#include "error_mapping.h"
#include "growing_file.h"
#include "http_transport.h"
#include "poll_schedule.h"
#include "request_record.h"
#include "retry_policy.h"
#include "run_control.h"
#include "service_error.h"
#include "task_history.h"
#include "task_poller.h"
#include "text_trim.h"

namespace see2ai {
namespace {

using Clock = RunControl::Clock;

class Collection {
 public:
  Collection(const std::string &dir, const CollectOptions &options, const PendingTask &task)
      : dir_(dir),
        options_(options),
        cache_(dir, task.key),
        outcome_{task, CollectStatus::Error, {}, 0} {
    config_ = options.config;
    if (task.record && !task.record->api_url.empty()) config_.api_url = task.record->api_url;
    if (task.record && !task.record->status_path.empty())
      config_.status_path = task.record->status_path;
  }

  CollectOutcome run();

 private:
  CollectOutcome finish(CollectStatus status, const std::string &message) {
    outcome_.status = status;
    outcome_.message = replace_all(message, config_.api_key, "<api-key>");
    return outcome_;
  }
  CollectOutcome timed_out() {
    std::string limit = std::to_string(options_.timeout_s) + " s";
    if (downloading_)
      return finish(CollectStatus::Error, "the download of task " + outcome_.task.task_id +
                                              " did not finish within " + limit);
    return finish(CollectStatus::StillRunning,
                  "task " + outcome_.task.task_id + " still runs after " + limit);
  }
  TaskOutput follow(HttpTransport &transport);
  uint64_t download(HttpTransport &transport, const TaskOutput &output);
  void note_finish(const TaskOutput &output);

  const std::string &dir_;
  const CollectOptions &options_;
  ClientConfig config_;
  ClipCache cache_;
  CollectOutcome outcome_;
  RunControl control_;
  bool downloading_ = false;
};

TaskOutput Collection::follow(HttpTransport &transport) {
  const PendingTask &task = outcome_.task;
  TaskPoller poller(config_, control_, transport);
  if (task.record && task.submitted_at_us > 0) {
    TaskKind kind{task.record->model, task.record->resolution, task.record->duration};
    if (std::optional<ExpectedDuration> expected = expected_duration(dir_, kind)) {
      auto age = std::chrono::microseconds(g_get_real_time() - task.submitted_at_us);
      poller.set_expected_end(end_window(*expected),
                              Clock::now() - std::chrono::duration_cast<Clock::duration>(age));
    }
  }
  return poller.follow(task.task_id, std::nullopt, true, [&](const TaskOutput &answer) {
    g_debug("task %s: %s", task.task_id.c_str(), answer.state_text.c_str());
  });
}

uint64_t Collection::download(HttpTransport &transport, const TaskOutput &output) {
  RetryPolicy policy(config_.retries);
  // The same checks as a run's download: http(s) only, the size cap, a whole playable clip.
  for (const std::string &url : output.result_urls)
    if (!is_http_url(url))
      throw ServiceError(ErrorKind::Failed,
                         "the service gave a result URL that is not http or https: " + url, 0,
                         output.task_id);
  Downloader downloader(transport, control_, policy, config_.max_result_bytes, clip_problem);
  uint64_t bytes = 0;
  cache_.forget();
  for (size_t i = 0; i < output.result_urls.size(); ++i) {
    std::shared_ptr<GrowingFile> file = cache_.create_clip(i);
    downloader.download(output.result_urls[i], *file, [] {});
    bytes += file->known_size().value_or(0);
  }
  return bytes;
}

// The record learns how long the task took when the service says (cost_time); the moment it
// finished is not known here.
void Collection::note_finish(const TaskOutput &output) {
  std::optional<RequestRecord> record = read_request_record(dir_, outcome_.task.key);
  if (!record || !output.cost_time || *output.cost_time <= 0) return;
  record->generation_ms = output.cost_time;
  record->finished_at_us = record->submitted_at_us + *output.cost_time * 1000;
  try {
    write_request_record(dir_, outcome_.task.key, *record);
  } catch (const std::exception &e) {
    g_debug("%s", e.what());
  }
}

CollectOutcome Collection::run() {
  const PendingTask &task = outcome_.task;
  if (task.task_id.empty())
    return finish(CollectStatus::NoTaskId,
                  "submitted, task id unknown: the service's answer never arrived");
  std::unique_ptr<KeyLock> lock;
  try {
    cache_.prepare();
    lock = cache_.key_lock();
    if (!lock->try_acquire())
      return finish(CollectStatus::InProgress, "a running element follows this task now");
  } catch (const std::exception &e) {
    return finish(CollectStatus::Error, e.what());
  }
  // Under the lock: the run that held it may have finished the task meanwhile.
  std::string problem;
  std::optional<TaskOutput> cached = cache_.lookup().hit;
  std::optional<JournalEntry> journaled = cache_.journal(&problem);
  if (!journaled || journaled->task_id != task.task_id)
    return finish(CollectStatus::InProgress, "another run settled this task meanwhile");
  if (cached && cached->task_id == task.task_id) {
    cache_.remove_journal();
    return finish(CollectStatus::Collected, "already in the cache");
  }

  control_.start(Clock::now() + std::chrono::seconds(std::max(1, options_.timeout_s)));
  try {
    HttpTransport transport(config_, control_.cancellable(),
                            static_cast<unsigned>(std::max(0, config_.read_timeout_s)));
    TaskOutput output;
    try {
      output = follow(transport);
    } catch (const TaskUnknown &) {
      cache_.remove_journal();
      return finish(CollectStatus::Gone, "the service does not know task " + task.task_id);
    }
    if (output.state != TaskState::Succeeded) {
      cache_.remove_journal();
      return finish(CollectStatus::Ended,
                    with_detail("task " + task.task_id + " ended " + output.state_text,
                                output.error_message.value_or("")) +
                        " (nothing charged)");
    }
    if (output.result_urls.empty())
      return finish(CollectStatus::Error,
                    "task " + task.task_id + " succeeded without result_urls");
    downloading_ = true;
    try {
      outcome_.bytes = download(transport, output);
    } catch (const ServiceError &e) {
      if (e.http_status != 404 && e.http_status != 410) throw;
      cache_.remove_journal();
      return finish(CollectStatus::Gone, std::string("the results of task ") + task.task_id +
                                             " are gone (expired): " + e.what());
    }
    cache_.store(output);
    cache_.remove_journal();
    note_finish(output);
    control_.stop();
    return finish(CollectStatus::Collected, "task " + task.task_id + " collected");
  } catch (const RunStopped &) {
    return timed_out();
  } catch (const ServiceError &e) {
    if (control_.stop_reason() == StopReason::DeadlinePassed) return timed_out();
    return finish(CollectStatus::Error, e.what());
  } catch (const std::exception &e) {
    return finish(CollectStatus::Error, e.what());
  }
}

}  // namespace

std::vector<CollectOutcome> collect_pending(
    const std::string &cache_dir, const CollectOptions &options,
    const std::function<void(const CollectOutcome &)> &on_outcome) {
  std::vector<CollectOutcome> outcomes;
  for (const PendingTask &task : CacheInventory(cache_dir).pending()) {
    outcomes.push_back(Collection(cache_dir, options, task).run());
    if (on_outcome) on_outcome(outcomes.back());
  }
  return outcomes;
}

}  // namespace see2ai
