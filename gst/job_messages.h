// JobMessages: what the application learns of one shot's job, on the bus and in properties. It is
// the job's JobEvents (progress messages, see2ai-task and see2ai-result element messages, the
// service's warnings, the task-id and result properties), hands the job's files and its outcome to
// the ClipPlaylist, checks a request before anything is spent, and posts every error (and every
// skipped shot's warning) with the details structure applications read (never parsing text).
#pragma once

#include <gst/gst.h>

#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "clip_playlist.h"
#include "generation_job.h"
#include "service_error.h"
#include "src_properties.h"

// Where an error was raised, for the location GStreamer puts in the message's debug text.
struct ErrorSite {
  const char *file;
  const char *function;
  int line;
};
#define ERROR_SITE (ErrorSite{__FILE__, GST_FUNCTION, __LINE__})

class JobMessages : public see2ai::JobEvents {
 public:
  // `shot`: the shot whose job this follows (its index in the playlist and in the messages).
  JobMessages(GstElement *element, see2ai::ClipPlaylist &playlist, size_t shot = 0);
  ~JobMessages() override;
  JobMessages(const JobMessages &) = delete;
  JobMessages &operator=(const JobMessages &) = delete;

  // Before a run: posts the error that stops it (an invalid request, no key) and returns false,
  // or posts the advice on a legal but poor request and returns true. Nothing is spent either way.
  bool check_request(const SrcSettings &run);
  // The part of check_request that is not about the request's fields: an API key is set.
  bool check_key(const SrcSettings &run);
  // A new run: forgets the last task and result (without a notify: deep-notify printers cannot
  // show NULL). `task_id`: the task attached to, if any. `resumable`: a run of the same settings
  // finds this one's task again (a journal, or the task id).
  // `name_shot`: the run plays several shots, so progress texts say which one.
  void start(const std::string &task_id, bool resumable, bool name_shot = false);
  // The job's outcome (on its thread): messages, and the files or the failure to the playlist.
  void succeeded(const see2ai::JobResult &result);
  void failed(const see2ai::ServiceError &error);

  // The task of this run, once known (empty before).
  std::string task_id() const;
  // A copy of the result structure (nullptr before the first answer); the caller frees it.
  GstStructure *dup_result() const;

  // One error message per failure, always with details (empty strings and 0 where a field does not
  // apply; `flow-return` too for a streaming failure).
  void post_error(GQuark domain, gint code, const see2ai::ServiceError &error,
                  const ErrorSite &site, const char *debug = nullptr,
                  std::optional<GstFlowReturn> flow = std::nullopt);
  // A failure of the job, in its GStreamer domain and code; nothing for a cancellation.
  void post_service_error(const see2ai::ServiceError &error, const ErrorSite &site);
  // The stream goes on without this shot: a warning in the failure's domain and code, with the
  // same details as an error.
  void post_shot_skipped(const see2ai::ServiceError &error, const ErrorSite &site);
  // A failure of the element itself (bad media, internal flow), about the current task if any.
  see2ai::ServiceError local_error(const std::string &text) const;
  // An end asked for before the clip existed: the error says how to get it without paying again.
  void post_stopped_before_clip(const ErrorSite &site);

  // JobEvents, called on the job thread.
  void on_submitting() override;
  void on_task_id(const std::string &task_id, bool resumed) override;
  void on_state(const see2ai::TaskOutput &output, int64_t elapsed_ms) override;
  void on_estimate(const see2ai::TaskOutput &output, const see2ai::TimeEstimate &estimate) override;
  void on_waiting_for_other_run() override;
  void on_cache_hit(const see2ai::TaskOutput &output) override;
  void on_warning(const std::string &message) override;
  void on_download_started(size_t index, std::shared_ptr<see2ai::GrowingFile> file) override;

 private:
  // `percent`: how far the task is, when an estimate says so (the message's percent field).
  void post_progress(GstProgressType type, const std::string &text,
                     std::optional<int> percent = std::nullopt);
  void set_result(const GstStructure *s);
  void post_result(const see2ai::TaskOutput &output, bool cached);

  void post_message(GstMessageType type, GQuark domain, gint code,
                    const see2ai::ServiceError &error, const ErrorSite &site, const char *debug,
                    std::optional<GstFlowReturn> flow);
  std::string shot_prefix() const;

  GstElement *element_;
  see2ai::ClipPlaylist &playlist_;
  const size_t shot_;
  bool name_shot_ = false;
  bool from_cache_ = false;  // job thread only
  // The estimate of the latest answer, when the cache has a history of such tasks (job thread).
  std::optional<see2ai::TimeEstimate> estimate_;
  bool resumable_ = false;
  // The advice posted before submitting, in the request's own words: the service's `warnings`
  // that repeat it are not posted again.
  std::set<std::string> local_advice_;
  mutable std::mutex lock_;  // guards what follows
  std::string task_id_;
  std::string state_;  // as the service spelled it
  GstStructure *result_ = nullptr;
};
