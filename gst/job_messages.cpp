#include "job_messages.h"

#include <utility>

#include "growing_file.h"
#include "string_array.h"

GST_DEBUG_CATEGORY_EXTERN(gst_see2ai_video_src_debug);
#define GST_CAT_DEFAULT gst_see2ai_video_src_debug

using see2ai::ErrorKind;
using see2ai::ServiceError;
using see2ai::TaskOutput;

namespace {

GstStructure *result_structure(const TaskOutput &output, bool from_cache, size_t shot) {
  GValue urls = G_VALUE_INIT;
  GValue warnings = G_VALUE_INIT;
  gst_value_array_init(&urls, output.result_urls.size());
  gst_value_array_init(&warnings, output.warnings.size());
  string_array_fill(&urls, output.result_urls);
  string_array_fill(&warnings, output.warnings);
  GstStructure *s = gst_structure_new(
      "see2ai-result", "task-id", G_TYPE_STRING, output.task_id.c_str(), "state", G_TYPE_STRING,
      see2ai::state_name(output.state), "input-tokens", G_TYPE_INT64, output.input_tokens,
      "output-tokens", G_TYPE_INT64, output.output_tokens, "total-tokens", G_TYPE_INT64,
      output.total_tokens, "cost-points", G_TYPE_INT64, output.cost_points.value_or(-1),
      "cost-time", G_TYPE_INT64, output.cost_time.value_or(-1), "model", G_TYPE_STRING,
      output.model.c_str(), "source", G_TYPE_STRING, output.source.c_str(), "provider-config-id",
      G_TYPE_INT64, output.provider_config_id.value_or(-1), "error-message", G_TYPE_STRING,
      output.error_message ? output.error_message->c_str() : nullptr, "from-cache", G_TYPE_BOOLEAN,
      from_cache, nullptr);
  gst_structure_set(s, "service-state", G_TYPE_STRING, output.service_state().c_str(), "shot",
                    G_TYPE_UINT, static_cast<guint>(shot), nullptr);
  gst_structure_take_value(s, "result-urls", &urls);
  gst_structure_take_value(s, "warnings", &warnings);
  return s;
}

// The GStreamer error domain and code of each kind of failure: what the application can do about
// it (fix a setting, a key, wait, check the network) decides the code.
std::pair<GQuark, gint> gst_error_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Settings:
      return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS};
    case ErrorKind::NotAuthorized:
      return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED};
    case ErrorKind::Busy:
      return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY};
    case ErrorKind::OpenRead:
      return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ};
    case ErrorKind::Read:
    case ErrorKind::Timeout:
      return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ};
    case ErrorKind::NoSpace:
      return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NO_SPACE_LEFT};
    case ErrorKind::BadMedia:
      return {GST_STREAM_ERROR, GST_STREAM_ERROR_DEMUX};
    case ErrorKind::Failed:
    case ErrorKind::Cancelled:
      break;
  }
  return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED};
}

}  // namespace

JobMessages::JobMessages(GstElement *element, see2ai::ClipPlaylist &playlist, size_t shot)
    : element_(element), playlist_(playlist), shot_(shot) {}

JobMessages::~JobMessages() {
  if (result_) gst_structure_free(result_);
}

bool JobMessages::check_request(const SrcSettings &run) {
  if (run.task_id.empty()) {
    if (auto problem = see2ai::validate(run.request)) {
      post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
                 local_error("Invalid property \"" + property_name_for_field(problem->field) +
                             "\": " + problem->message),
                 ERROR_SITE, "nothing was submitted");
      return false;
    }
  }
  if (!check_key(run)) return false;
  local_advice_.clear();
  for (const auto &advice : see2ai::advisories(run.request)) {
    // Each piece of advice starts with the request field it is about; here it names the property.
    const size_t field_end = advice.find('=');
    const std::string text =
        field_end == std::string::npos
            ? advice
            : property_name_for_field(advice.substr(0, field_end)) + advice.substr(field_end);
    GST_ELEMENT_WARNING(element_, RESOURCE, SETTINGS, ("%s", text.c_str()), (nullptr));
    local_advice_.insert(advice);
  }
  return true;
}

bool JobMessages::check_key(const SrcSettings &run) {
  if (!run.client.api_key.empty()) return true;
  post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED,
             local_error("No API key: set the \"api-key\" property or SEE2AI_API_KEY"), ERROR_SITE,
             "nothing was submitted");
  return false;
}

void JobMessages::start(const std::string &task_id, bool resumable, bool name_shot) {
  name_shot_ = name_shot;
  from_cache_ = false;
  estimate_.reset();
  resumable_ = resumable;
  std::lock_guard<std::mutex> guard(lock_);
  task_id_ = task_id;
  state_.clear();
  if (result_) gst_structure_free(result_);
  result_ = nullptr;
}

void JobMessages::succeeded(const see2ai::JobResult &result) {
  post_result(result.output, result.from_cache);
  post_progress(GST_PROGRESS_TYPE_COMPLETE, shot_prefix() + "Clip ready");
  playlist_.job_succeeded(result.files, shot_);
}

void JobMessages::failed(const ServiceError &error) {
  const bool cancelled = error.kind == ErrorKind::Cancelled;
  post_progress(cancelled ? GST_PROGRESS_TYPE_CANCELED : GST_PROGRESS_TYPE_ERROR,
                shot_prefix() + (cancelled ? "Cancelled" : error.what()));
  playlist_.job_failed(error, shot_);
}

std::string JobMessages::shot_prefix() const {
  return name_shot_ ? "Shot " + std::to_string(shot_) + ": " : std::string();
}

std::string JobMessages::task_id() const {
  std::lock_guard<std::mutex> guard(lock_);
  return task_id_;
}

GstStructure *JobMessages::dup_result() const {
  std::lock_guard<std::mutex> guard(lock_);
  return result_ ? gst_structure_copy(result_) : nullptr;
}

ServiceError JobMessages::local_error(const std::string &text) const {
  std::lock_guard<std::mutex> guard(lock_);
  return ServiceError(ErrorKind::Failed, text, 0, task_id_, state_);
}

void JobMessages::post_error(GQuark domain, gint code, const ServiceError &error,
                             const ErrorSite &site, const char *debug,
                             std::optional<GstFlowReturn> flow) {
  post_message(GST_MESSAGE_ERROR, domain, code, error, site, debug, flow);
}

void JobMessages::post_shot_skipped(const ServiceError &error, const ErrorSite &site) {
  const auto [domain, code] = gst_error_for(error.kind);
  const ServiceError skipped(error.kind,
                             "Shot " + std::to_string(shot_) + " skipped: " + error.what(),
                             error.http_status, error.task_id, error.state, error.service_message);
  post_message(GST_MESSAGE_WARNING, domain, code, skipped, site,
               "the stream goes on with another shot", std::nullopt);
}

void JobMessages::post_message(GstMessageType type, GQuark domain, gint code,
                               const ServiceError &error, const ErrorSite &site, const char *debug,
                               std::optional<GstFlowReturn> flow) {
  GstStructure *details = gst_structure_new(
      "details", "http-status-code", G_TYPE_UINT, static_cast<guint>(error.http_status), "task-id",
      G_TYPE_STRING, error.task_id.c_str(), "state", G_TYPE_STRING, error.state.c_str(),
      "service-message", G_TYPE_STRING, error.service_message.c_str(), nullptr);
  if (flow)
    gst_structure_set(details, "flow-return", G_TYPE_INT, static_cast<gint>(*flow), nullptr);
  if (name_shot_)
    gst_structure_set(details, "shot", G_TYPE_UINT, static_cast<guint>(shot_), nullptr);
  GST_WARNING_OBJECT(element_, "%s: %s%s%s", type == GST_MESSAGE_ERROR ? "error" : "warning",
                     error.what(), debug ? " / " : "", debug ? debug : "");
  gst_element_message_full_with_details(element_, type, domain, code, g_strdup(error.what()),
                                        g_strdup(debug), site.file, site.function, site.line,
                                        details);
}

void JobMessages::post_service_error(const ServiceError &error, const ErrorSite &site) {
  if (error.kind == ErrorKind::Cancelled) return;  // a stop is not a failure
  const auto [domain, code] = gst_error_for(error.kind);
  post_error(domain, code, error, site);
}

void JobMessages::post_stopped_before_clip(const ErrorSite &site) {
  const std::string task = task_id();
  post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
             local_error("Stopped before the clip was ready" +
                         (task.empty() ? std::string() : ": task " + task)),
             site,
             task.empty() && resumable_
                 ? "no task was known yet: if the submit reached the service, running the same "
                   "request again says so instead of paying twice"
             : resumable_ ? "the task goes on at the service; running the same request again "
                            "resumes it without a second charge"
                          : "the task goes on at the service; set task-id to it to play it "
                            "without a second charge (cache-mode=off keeps no journal)");
}

void JobMessages::post_progress(GstProgressType type, const std::string &text,
                                std::optional<int> percent) {
  // Shots generate side by side: each has its own progress code, so each START has its end.
  const std::string code =
      name_shot_ ? "generate-shot-" + std::to_string(shot_) : std::string("generate");
  GstMessage *message =
      gst_message_new_progress(GST_OBJECT(element_), type, code.c_str(), text.c_str());
  if (percent)
    gst_structure_set(gst_message_writable_structure(message), "percent", G_TYPE_INT, *percent,
                      nullptr);
  gst_element_post_message(element_, message);
}

void JobMessages::on_submitting() {
  GST_INFO_OBJECT(element_, "submitting the generation request");
  post_progress(GST_PROGRESS_TYPE_START, shot_prefix() + "Submitting the generation request");
}

void JobMessages::on_task_id(const std::string &task_id, bool resumed) {
  GST_INFO_OBJECT(element_, "task %s (%s)", task_id.c_str(), resumed ? "resumed" : "new");
  {
    std::lock_guard<std::mutex> guard(lock_);
    task_id_ = task_id;
  }
  g_object_notify_by_pspec(G_OBJECT(element_), src_property(PROP_TASK_ID));
}

void JobMessages::on_state(const TaskOutput &output, int64_t elapsed_ms) {
  const char *state = see2ai::state_name(output.state);
  const std::string service_state = output.service_state();
  GST_INFO_OBJECT(element_, "task %s is %s after %.1f s", output.task_id.c_str(), state,
                  elapsed_ms / 1000.0);
  {
    std::lock_guard<std::mutex> guard(lock_);
    state_ = service_state;
  }
  // Success lists every result file before the first download starts.
  if (output.state == see2ai::TaskState::Succeeded)
    playlist_.set_file_count(output.result_urls.size(), shot_);
  GstStructure *answer = result_structure(output, from_cache_, shot_);
  set_result(answer);
  gst_structure_free(answer);
  // The estimate of this very answer (on_estimate came first), or the end of an estimated task.
  gint64 remaining_ms = -1;
  double fraction = -1;
  std::string about;
  if (estimate_ && !see2ai::is_terminal(output.state)) {
    remaining_ms = estimate_->remaining_ms;
    fraction = estimate_->fraction;
    about = ", " + see2ai::describe(*estimate_);
  } else if (estimate_ && output.state == see2ai::TaskState::Succeeded) {
    remaining_ms = 0;
    fraction = 1;
  }
  gchar *text = g_strdup_printf("%sTask %s: %s (%.1f s%s)", shot_prefix().c_str(),
                                output.task_id.c_str(), state, elapsed_ms / 1000.0, about.c_str());
  post_progress(
      GST_PROGRESS_TYPE_CONTINUE, text,
      fraction >= 0 ? std::optional<int>(static_cast<int>(fraction * 100)) : std::nullopt);
  g_free(text);
  gst_element_post_message(
      element_,
      gst_message_new_element(
          GST_OBJECT(element_),
          gst_structure_new("see2ai-task", "task-id", G_TYPE_STRING, output.task_id.c_str(),
                            "state", G_TYPE_STRING, state, "service-state", G_TYPE_STRING,
                            service_state.c_str(), "elapsed-ms", G_TYPE_INT64,
                            static_cast<gint64>(elapsed_ms), "from-cache", G_TYPE_BOOLEAN,
                            static_cast<gboolean>(from_cache_), "estimated-remaining-ms",
                            G_TYPE_INT64, remaining_ms, "estimated-fraction", G_TYPE_DOUBLE,
                            fraction, "shot", G_TYPE_UINT, static_cast<guint>(shot_), nullptr)));
}

// Between state changes the estimate moves on in progress messages; a changed state is posted by
// on_state, which follows with this same estimate.
void JobMessages::on_estimate(const TaskOutput &output, const see2ai::TimeEstimate &estimate) {
  estimate_ = estimate;
  {
    std::lock_guard<std::mutex> guard(lock_);
    if (state_ != output.service_state()) return;
  }
  gchar *text = g_strdup_printf("%sTask %s: %s (%.1f s, %s)", shot_prefix().c_str(),
                                output.task_id.c_str(), see2ai::state_name(output.state),
                                estimate.elapsed_ms / 1000.0, see2ai::describe(estimate).c_str());
  post_progress(GST_PROGRESS_TYPE_CONTINUE, text, static_cast<int>(estimate.fraction * 100));
  g_free(text);
}

void JobMessages::on_waiting_for_other_run() {
  GST_INFO_OBJECT(element_,
                  "another run of the same request is generating it: waiting for its clip");
  post_progress(
      GST_PROGRESS_TYPE_CONTINUE,
      "Waiting for another run of the same request to finish (it will not be paid twice)");
}

void JobMessages::on_cache_hit(const TaskOutput &output) {
  GST_INFO_OBJECT(element_, "playing task %s from the cache: nothing is spent",
                  output.task_id.c_str());
  from_cache_ = true;
}

void JobMessages::on_warning(const std::string &message) {
  if (local_advice_.count(message)) {
    GST_DEBUG_OBJECT(element_, "the service repeats advice already posted: %s", message.c_str());
    return;
  }
  GST_ELEMENT_WARNING(element_, RESOURCE, SETTINGS, ("%s", message.c_str()), (nullptr));
}

void JobMessages::on_download_started(size_t index, std::shared_ptr<see2ai::GrowingFile> file) {
  GST_INFO_OBJECT(element_, "download %zu started: %s", index, file->path().c_str());
  playlist_.file_started(index, std::move(file), shot_);
}

// The `result` property follows the task: each state change, then the final output.
void JobMessages::set_result(const GstStructure *s) {
  {
    std::lock_guard<std::mutex> guard(lock_);
    if (result_) gst_structure_free(result_);
    result_ = gst_structure_copy(s);
  }
  g_object_notify_by_pspec(G_OBJECT(element_), src_property(PROP_RESULT));
}

void JobMessages::post_result(const TaskOutput &output, bool cached) {
  GstStructure *s = result_structure(output, cached, shot_);
  set_result(s);
  GST_INFO_OBJECT(element_, "task %s done: %" G_GINT64_FORMAT " tokens%s", output.task_id.c_str(),
                  output.total_tokens, cached ? " (from the cache, nothing spent)" : "");
  gst_element_post_message(element_, gst_message_new_element(GST_OBJECT(element_), s));
}
