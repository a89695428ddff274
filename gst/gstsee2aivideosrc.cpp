#include "gstsee2aivideosrc.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "clip_decoder.h"
#include "frame_buffers.h"
#include "generation_job.h"
#include "generation_request.h"
#include "growing_file.h"
#include "pad_queues.h"
#include "service_error.h"
#include "task_output.h"

GST_DEBUG_CATEGORY_STATIC(gst_see2ai_video_src_debug);
#define GST_CAT_DEFAULT gst_see2ai_video_src_debug

using see2ai::CacheMode;
using see2ai::ClipDecoder;
using see2ai::ErrorKind;
using see2ai::GenerationRequest;
using see2ai::GrowingFile;
using see2ai::MediaError;
using see2ai::ServiceError;
using see2ai::TaskOutput;

namespace {

constexpr const char *kDefaultApiUrl = "https://see2ai.com";
constexpr int kDefaultPollIntervalMs = 0;
constexpr int kDefaultTimeoutS = 900;
constexpr int kDefaultRetries = 5;

// Where an error was raised, for the location GStreamer puts in the message's debug text.
struct ErrorSite {
  const char *file;
  const char *function;
  int line;
};
#define ERROR_SITE (ErrorSite{__FILE__, GST_FUNCTION, __LINE__})

enum {
  PROP_0,
  PROP_API_URL,
  PROP_API_KEY,
  PROP_MODEL,
  PROP_PROMPT,
  PROP_NON_FACE_IMAGE_URL,
  PROP_FACE_IMAGE_URL,
  PROP_VIDEO_URL,
  PROP_AUDIO_URL,
  PROP_FIRST_FRAME_URL,
  PROP_LAST_FRAME_URL,
  PROP_NON_FACE_IMAGE_URLS,
  PROP_VIDEO_URLS,
  PROP_AUDIO_URLS,
  PROP_DURATION,
  PROP_RESOLUTION,
  PROP_ASPECT_RATIO,
  PROP_WATERMARK,
  PROP_GENERATE_AUDIO,
  PROP_ENABLE_WEB_SEARCH,
  PROP_FORCE_ASSET_UPLOAD,
  PROP_SYNC,
  PROP_STATUS_PATH,
  PROP_POLL_INTERVAL,
  PROP_TIMEOUT,
  PROP_RETRIES,
  PROP_SSL_STRICT,
  PROP_PROXY,
  PROP_USER_AGENT,
  PROP_TASK_ID,
  PROP_CACHE_DIR,
  PROP_CACHE_MODE,
  PROP_IS_LIVE,
  PROP_LOOP,
  PROP_RESULT,
};

// Request fields that are optional strings, in the contract's order.
struct OptionalStringProp {
  guint id;
  const char *name;
  const char *nick;
  const char *blurb;
  std::optional<std::string> GenerationRequest::*member;
};
const OptionalStringProp kOptionalStringProps[] = {
    {PROP_PROMPT, "prompt", "Prompt", "Text describing the video to generate",
     &GenerationRequest::prompt},
    {PROP_NON_FACE_IMAGE_URL, "non-face-image-url", "Non-face image URL",
     "Public http(s) URL of a reference image without a real human face",
     &GenerationRequest::non_face_image_url},
    {PROP_FACE_IMAGE_URL, "face-image-url", "Face image URL",
     "Public http(s) URL of a reference image showing a real face (uploaded to the asset library)",
     &GenerationRequest::face_image_url},
    {PROP_VIDEO_URL, "video-url", "Video URL", "Public http(s) URL of a reference video",
     &GenerationRequest::video_url},
    {PROP_AUDIO_URL, "audio-url", "Audio URL", "Public http(s) URL of a reference audio",
     &GenerationRequest::audio_url},
    {PROP_FIRST_FRAME_URL, "first-frame-url", "First frame URL",
     "Public http(s) URL of the image the clip starts with", &GenerationRequest::first_frame_url},
    {PROP_LAST_FRAME_URL, "last-frame-url", "Last frame URL",
     "Public http(s) URL of the image the clip ends with", &GenerationRequest::last_frame_url},
};

struct StringListProp {
  guint id;
  const char *name;
  const char *nick;
  const char *blurb;
  std::vector<std::string> GenerationRequest::*member;
};
const StringListProp kStringListProps[] = {
    {PROP_NON_FACE_IMAGE_URLS, "non-face-image-urls", "Non-face image URLs",
     "Reference images without real faces, e.g. \"<https://a/1.png, https://a/2.png>\"",
     &GenerationRequest::non_face_image_urls},
    {PROP_VIDEO_URLS, "video-urls", "Video URLs", "Reference videos (at most 3 with video-url)",
     &GenerationRequest::video_urls},
    {PROP_AUDIO_URLS, "audio-urls", "Audio URLs", "Reference audios (at most 3 with audio-url)",
     &GenerationRequest::audio_urls},
};

struct BoolProp {
  guint id;
  const char *name;
  const char *nick;
  const char *blurb;
  bool GenerationRequest::*member;
  bool default_value;
};
const BoolProp kBoolProps[] = {
    {PROP_WATERMARK, "watermark", "Watermark", "Ask the service to add a watermark",
     &GenerationRequest::watermark, false},
    {PROP_GENERATE_AUDIO, "generate-audio", "Generate audio",
     "Generate synchronized voice, effects and music (an audio pad appears)",
     &GenerationRequest::generate_audio, true},
    {PROP_ENABLE_WEB_SEARCH, "enable-web-search", "Enable web search",
     "Let the service enrich the prompt with a web search", &GenerationRequest::enable_web_search,
     false},
    {PROP_FORCE_ASSET_UPLOAD, "force-asset-upload", "Force asset upload",
     "Re-upload every reference to the asset library: slow and expensive, leave off unless direct "
     "upload keeps failing",
     &GenerationRequest::force_asset_upload, false},
    {PROP_SYNC, "sync", "Synchronous",
     "Hold one request open until the clip is ready instead of polling the task (polling keeps a "
     "task id in hand, which is what makes resuming possible)",
     &GenerationRequest::sync, false},
};

const char *const kResolutions[] = {"720p", "480p"};
const char *const kAspectRatios[] = {"adaptive", "16:9", "9:16", "1:1", "21:9", "4:3", "3:4"};

GType model_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(see2ai::Model::Standard), "doubao-seedance-2-0-260128", "standard"},
      {static_cast<gint>(see2ai::Model::Fast), "doubao-seedance-2-0-fast-260128", "fast"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstSee2aiModel", values));
  return type;
}

GType resolution_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {0, "720p", "720p"}, {1, "480p", "480p"}, {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstSee2aiResolution", values));
  return type;
}

GType aspect_ratio_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {0, "adaptive", "adaptive"}, {1, "16:9", "16:9"}, {2, "9:16", "9:16"}, {3, "1:1", "1:1"},
      {4, "21:9", "21:9"},         {5, "4:3", "4:3"},   {6, "3:4", "3:4"},   {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstSee2aiAspectRatio", values));
  return type;
}

GType cache_mode_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(CacheMode::Reuse), "Play a finished clip of the same request again",
       "reuse"},
      {static_cast<gint>(CacheMode::Refresh), "Generate anew and replace the cached clip",
       "refresh"},
      {static_cast<gint>(CacheMode::Off), "No cache and no journal", "off"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstSee2aiCacheMode", values));
  return type;
}

template <size_t N>
int index_of(const char *const (&table)[N], const std::string &value) {
  for (size_t i = 0; i < N; ++i)
    if (value == table[i]) return static_cast<int>(i);
  return 0;
}

std::string env_or(const char *name, const char *fallback) {
  const char *value = g_getenv(name);
  return value && *value ? value : fallback;
}

GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE("{ I420, Y42B, Y444, NV12, I420_10LE, I422_10LE, "
                                        "Y444_10LE, P010_10LE, GRAY8, RGB, RGBA, BGRA }")));
GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("audio/x-raw, format = (string) { F32LE, S16LE, S32LE, F64LE, U8 }, "
                    "layout = (string) interleaved, rate = (int) [ 1, MAX ], "
                    "channels = (int) [ 1, 8 ]"));

}  // namespace

// What the properties say; copied by the streaming side when a run starts.
struct SrcSettings {
  GenerationRequest request;
  see2ai::ClientConfig client;
  std::string task_id;
  std::string cache_dir;
  CacheMode cache_mode = CacheMode::Reuse;
  bool is_live = false;
  bool loop = false;
};

// One output pad and what it needs to make buffers.
struct OutputPad {
  GstPad *pad = nullptr;
  GstVideoInfo video_info;  // what the buffers made now are (decoding thread)
  GstAudioInfo audio_info;
  see2ai::VideoStreamInfo video_stream;  // what video_info / audio_info were made from
  see2ai::AudioStreamInfo audio_stream;
  bool copy_frames = false;  // the peer cannot read GstVideoMeta (pad task only)
  bool allocation_known = false;
  GstVideoInfo pad_video_info;  // the caps last sent on the pad (pad task only)
  GstClockTime offset = 0;  // stream time where the current file starts (files and loops follow on)
  GstClockTime end = 0;     // end of the latest buffer pushed, in stream time
  size_t queue = 0;         // index in PadQueues
  bool downstream_eos = false;  // pad task only: downstream said EOS, nothing more goes out
};

struct GstSee2aiVideoSrcPrivate : see2ai::JobEvents {
  explicit GstSee2aiVideoSrcPrivate(GstSee2aiVideoSrc *owner) : src(owner) {
    settings.request.sync = false;
    settings.client.api_url = env_or("SEE2AI_API_URL", kDefaultApiUrl);
    settings.client.poll_interval_ms = kDefaultPollIntervalMs;
    settings.client.timeout_s = kDefaultTimeoutS;
    settings.client.retries = kDefaultRetries;
    settings.cache_dir = std::string(g_get_user_cache_dir()) + "/see2ai";
    g_rec_mutex_init(&task_lock);
    task = gst_task_new(
        [](gpointer data) { static_cast<GstSee2aiVideoSrcPrivate *>(data)->loop_iteration(); },
        this, nullptr);
    gst_task_set_lock(task, &task_lock);
  }
  ~GstSee2aiVideoSrcPrivate() override {
    gst_object_unref(task);
    g_rec_mutex_clear(&task_lock);
    if (result) gst_structure_free(result);
  }

  GstSee2aiVideoSrc *src;

  // Properties. `lock` also guards current_task_id, last_state and result.
  std::mutex lock;
  SrcSettings settings;
  std::string current_task_id;
  std::string last_state;
  GstStructure *result = nullptr;

  // The generation job, on its own thread, hands finished or growing files to the streaming task.
  std::mutex job_lock;
  std::condition_variable job_cond;
  std::unique_ptr<see2ai::GenerationJob> job;
  std::thread job_thread;
  std::vector<std::shared_ptr<GrowingFile>> files;
  bool job_done = false;
  std::unique_ptr<ServiceError> job_error;
  bool flushing = false;
  gboolean from_cache = FALSE;  // job thread only
  bool rerun_resumes = false;   // a journal (or the task-id) lets a new run attach to the task

  // Streaming task.
  GstTask *task;
  GRecMutex task_lock;
  std::unique_ptr<ClipDecoder> decoder;
  std::shared_ptr<GrowingFile> file;
  size_t file_index = 0;
  OutputPad video;
  OutputPad audio;
  GstClockTime picture_end = GST_CLOCK_TIME_NONE;  // looping: where this play's picture ends
  PadQueues queues;
  guint group_id = 0;
  std::string prompt;
  std::atomic<bool> is_live{false};  // read by queries on other threads
  std::atomic<bool> loop{false};
  std::atomic<GstClockTime> last_end{0};  // end of the latest buffer, for position queries
  GstSegment segment;
  bool need_segment = false;
  std::atomic<gint64> clip_duration{-1};  // of one play of the clip, once a file was opened
  guint32 segment_seqnum = 0;

  // Live mode: buffers are stamped in running time from the moment the first one leaves, and
  // nothing is pushed outside PLAYING.
  std::mutex live_lock;
  std::condition_variable live_cond;
  bool playing = false;
  GstClockTime live_base = GST_CLOCK_TIME_NONE;
  // Live pad tasks wait for each buffer's running time on the pipeline clock.
  std::mutex clock_lock;
  GstClockID clock_waits[2] = {nullptr, nullptr};
  // An EOS event sent to the element: end after what is queued.
  std::atomic<bool> eos_requested{false};

  bool start();
  void stop();
  void loop_iteration();
  bool handle_seek(GstEvent *event);
  bool request_eos();
  void set_playing(bool value);
  GstClockTime position() const;
  bool seekable();

  // The advice posted before submitting, in the request's own words: the service's `warnings`
  // that repeat it are not posted again.
  std::set<std::string> local_advice;

  // JobEvents, called on the job thread.
  void on_submitting() override;
  void on_task_id(const std::string &task_id, bool resumed) override;
  void on_state(const TaskOutput &output, int64_t elapsed_ms) override;
  void on_waiting_for_other_run() override;
  void on_cache_hit(const TaskOutput &output) override;
  void on_warning(const std::string &message) override;
  void on_download_started(size_t index, std::shared_ptr<GrowingFile> growing) override;

 private:
  void run_job();
  bool open_next_file();
  void configure_pads(const see2ai::ClipInfo &info);
  void announce_video(const see2ai::VideoStreamInfo &stream);
  void announce_audio(const see2ai::AudioStreamInfo &stream);
  void follow_frame_format(const see2ai::DecodedFrame &frame);
  GstPad *add_output_pad(GstStaticPadTemplate *templ, const char *name, GstCaps *caps,
                         const char *codec_tag, const std::string &codec,
                         const std::string &container);
  void push_frame(see2ai::DecodedFrame &frame);
  void end_of_file();
  bool wait_until_playing();
  void finish(GstFlowReturn reason);
  ServiceError local_error(const std::string &text);
  void post_error(GQuark domain, gint code, const ServiceError &error, const ErrorSite &site,
                  const char *debug = nullptr, std::optional<GstFlowReturn> flow = std::nullopt);
  void post_service_error(const ServiceError &error, const ErrorSite &site);
  void set_result(const GstStructure *s);
  void post_progress(GstProgressType type, const std::string &text);
  void post_result(const TaskOutput &output, bool cached);
  void push_event_all(GstEvent *event);
  void pad_loop(size_t index, GstPad *pad);
  GstBuffer *adapt_to_peer(GstBuffer *buffer);
  bool wait_for_running_time(size_t index, GstClockTime running_time);
  void unschedule_clock_waits();
  void start_pad_tasks();
  void pause_pad_tasks();
  void remove_pads();
};

struct _GstSee2aiVideoSrc {
  GstElement parent;
  GstSee2aiVideoSrcPrivate *priv;
};

static void gst_see2ai_video_src_uri_handler_init(gpointer g_iface, gpointer iface_data);

G_DEFINE_TYPE_WITH_CODE(GstSee2aiVideoSrc, gst_see2ai_video_src, GST_TYPE_ELEMENT,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_URI_HANDLER,
                                              gst_see2ai_video_src_uri_handler_init))
GST_ELEMENT_REGISTER_DEFINE(see2aivideosrc, "see2aivideosrc", GST_RANK_NONE,
                            GST_TYPE_SEE2AI_VIDEO_SRC)

static GParamSpec *properties[PROP_RESULT + 1];

namespace {

std::string property_name_for_field(const std::string &field) {
  if (field == "model_name") return "model";
  std::string name = field;
  for (auto &c : name)
    if (c == '_') c = '-';
  return name;
}

// The state as the service spelled it (`state` gives the element's reading of it).
const char *service_state(const TaskOutput &output) {
  return output.state_text.empty() ? see2ai::state_name(output.state) : output.state_text.c_str();
}

GstStructure *result_structure(const TaskOutput &output, bool from_cache) {
  GValue urls = G_VALUE_INIT;
  GValue warnings = G_VALUE_INIT;
  gst_value_array_init(&urls, output.result_urls.size());
  gst_value_array_init(&warnings, output.warnings.size());
  for (const auto &url : output.result_urls) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_string(&v, url.c_str());
    gst_value_array_append_and_take_value(&urls, &v);
  }
  for (const auto &warning : output.warnings) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_string(&v, warning.c_str());
    gst_value_array_append_and_take_value(&warnings, &v);
  }
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
  gst_structure_set(s, "service-state", G_TYPE_STRING, service_state(output), nullptr);
  gst_structure_take_value(s, "result-urls", &urls);
  gst_structure_take_value(s, "warnings", &warnings);
  return s;
}

// The GStreamer error domain and code of each kind of failure (issue 3's mapping).
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

void GstSee2aiVideoSrcPrivate::post_progress(GstProgressType type, const std::string &text) {
  gst_element_post_message(
      GST_ELEMENT(src), gst_message_new_progress(GST_OBJECT(src), type, "generate", text.c_str()));
}

void GstSee2aiVideoSrcPrivate::on_submitting() {
  GST_INFO_OBJECT(src, "submitting the generation request");
  post_progress(GST_PROGRESS_TYPE_START, "Submitting the generation request");
}

void GstSee2aiVideoSrcPrivate::on_task_id(const std::string &task_id, bool resumed) {
  GST_INFO_OBJECT(src, "task %s (%s)", task_id.c_str(), resumed ? "resumed" : "new");
  {
    std::lock_guard<std::mutex> guard(lock);
    current_task_id = task_id;
  }
  g_object_notify_by_pspec(G_OBJECT(src), properties[PROP_TASK_ID]);
}

void GstSee2aiVideoSrcPrivate::on_state(const TaskOutput &output, int64_t elapsed_ms) {
  const char *state = see2ai::state_name(output.state);
  GST_INFO_OBJECT(src, "task %s is %s after %.1f s", output.task_id.c_str(), state,
                  elapsed_ms / 1000.0);
  {
    std::lock_guard<std::mutex> guard(lock);
    last_state = service_state(output);
  }
  GstStructure *answer = result_structure(output, from_cache);
  set_result(answer);
  gst_structure_free(answer);
  gchar *text =
      g_strdup_printf("Task %s: %s (%.1f s)", output.task_id.c_str(), state, elapsed_ms / 1000.0);
  post_progress(GST_PROGRESS_TYPE_CONTINUE, text);
  g_free(text);
  gst_element_post_message(
      GST_ELEMENT(src),
      gst_message_new_element(
          GST_OBJECT(src),
          gst_structure_new("see2ai-task", "task-id", G_TYPE_STRING, output.task_id.c_str(),
                            "state", G_TYPE_STRING, state, "service-state", G_TYPE_STRING,
                            service_state(output), "elapsed-ms", G_TYPE_INT64,
                            static_cast<gint64>(elapsed_ms), "from-cache", G_TYPE_BOOLEAN,
                            from_cache, nullptr)));
}

void GstSee2aiVideoSrcPrivate::on_waiting_for_other_run() {
  GST_INFO_OBJECT(src, "another run of the same request is generating it: waiting for its clip");
  post_progress(
      GST_PROGRESS_TYPE_CONTINUE,
      "Waiting for another run of the same request to finish (it will not be paid twice)");
}

void GstSee2aiVideoSrcPrivate::on_cache_hit(const TaskOutput &output) {
  GST_INFO_OBJECT(src, "playing task %s from the cache: nothing is spent", output.task_id.c_str());
  from_cache = TRUE;
}

void GstSee2aiVideoSrcPrivate::on_warning(const std::string &message) {
  if (local_advice.count(message)) {
    GST_DEBUG_OBJECT(src, "the service repeats advice already posted: %s", message.c_str());
    return;
  }
  GST_ELEMENT_WARNING(src, RESOURCE, SETTINGS, ("%s", message.c_str()), (nullptr));
}

void GstSee2aiVideoSrcPrivate::on_download_started(size_t index,
                                                   std::shared_ptr<GrowingFile> growing) {
  GST_INFO_OBJECT(src, "download %zu started: %s", index, growing->path().c_str());
  std::lock_guard<std::mutex> guard(job_lock);
  if (files.size() <= index) files.resize(index + 1);
  files[index] = std::move(growing);
  job_cond.notify_all();
}

// The `result` property follows the task: each state change, then the final output.
void GstSee2aiVideoSrcPrivate::set_result(const GstStructure *s) {
  {
    std::lock_guard<std::mutex> guard(lock);
    if (result) gst_structure_free(result);
    result = gst_structure_copy(s);
  }
  g_object_notify_by_pspec(G_OBJECT(src), properties[PROP_RESULT]);
}

void GstSee2aiVideoSrcPrivate::post_result(const TaskOutput &output, bool cached) {
  GstStructure *s = result_structure(output, cached);
  set_result(s);
  GST_INFO_OBJECT(src, "task %s done: %" G_GINT64_FORMAT " tokens%s", output.task_id.c_str(),
                  output.total_tokens, cached ? " (from the cache, nothing spent)" : "");
  gst_element_post_message(GST_ELEMENT(src), gst_message_new_element(GST_OBJECT(src), s));
}

void GstSee2aiVideoSrcPrivate::run_job() {
  try {
    see2ai::JobResult result = job->run();
    post_result(result.output, result.from_cache);
    post_progress(GST_PROGRESS_TYPE_COMPLETE, "Clip ready");
    std::lock_guard<std::mutex> guard(job_lock);
    if (files.size() < result.files.size()) files.resize(result.files.size());
    for (size_t i = 0; i < result.files.size(); ++i)
      if (!files[i]) files[i] = result.files[i];
    job_done = true;
  } catch (const ServiceError &error) {
    post_progress(
        error.kind == ErrorKind::Cancelled ? GST_PROGRESS_TYPE_CANCELED : GST_PROGRESS_TYPE_ERROR,
        error.kind == ErrorKind::Cancelled ? "Cancelled" : error.what());
    std::lock_guard<std::mutex> guard(job_lock);
    job_error = std::make_unique<ServiceError>(error);
    job_done = true;
  } catch (const std::exception &error) {
    post_progress(GST_PROGRESS_TYPE_ERROR, error.what());
    std::lock_guard<std::mutex> guard(job_lock);
    job_error = std::make_unique<ServiceError>(ErrorKind::Failed, error.what());
    job_done = true;
  }
  job_cond.notify_all();
}

// A failure of the element itself (bad settings, bad media), about the current task if any.
ServiceError GstSee2aiVideoSrcPrivate::local_error(const std::string &text) {
  std::lock_guard<std::mutex> guard(lock);
  return ServiceError(ErrorKind::Failed, text, 0, current_task_id, last_state);
}

// One error message per failure, always with a details structure applications can read (empty
// strings and 0 where a field does not apply; `flow-return` too for a streaming failure).
void GstSee2aiVideoSrcPrivate::post_error(GQuark domain, gint code, const ServiceError &error,
                                          const ErrorSite &site, const char *debug,
                                          std::optional<GstFlowReturn> flow) {
  GstStructure *details = gst_structure_new(
      "details", "http-status-code", G_TYPE_UINT, static_cast<guint>(error.http_status), "task-id",
      G_TYPE_STRING, error.task_id.c_str(), "state", G_TYPE_STRING, error.state.c_str(),
      "service-message", G_TYPE_STRING, error.service_message.c_str(), nullptr);
  if (flow)
    gst_structure_set(details, "flow-return", G_TYPE_INT, static_cast<gint>(*flow), nullptr);
  GST_WARNING_OBJECT(src, "error: %s%s%s", error.what(), debug ? " / " : "", debug ? debug : "");
  gst_element_message_full_with_details(GST_ELEMENT(src), GST_MESSAGE_ERROR, domain, code,
                                        g_strdup(error.what()), g_strdup(debug), site.file,
                                        site.function, site.line, details);
}

void GstSee2aiVideoSrcPrivate::post_service_error(const ServiceError &error,
                                                  const ErrorSite &site) {
  if (error.kind == ErrorKind::Cancelled) return;  // a stop is not a failure
  const auto [domain, code] = gst_error_for(error.kind);
  post_error(domain, code, error, site);
}

bool GstSee2aiVideoSrcPrivate::start() {
  SrcSettings run;
  {
    std::lock_guard<std::mutex> guard(lock);
    run = settings;
    current_task_id = run.task_id;
    last_state.clear();
    // Cleared without a notify: deep-notify printers (gst-launch -v, gst-play) cannot show NULL.
    if (result) gst_structure_free(result);
    result = nullptr;
  }
  if (run.client.api_key.empty()) run.client.api_key = env_or("SEE2AI_API_KEY", "");
  // The HTTP exchanges in the debug log at LOG level, headers only and the key hidden.
  if (gst_debug_category_get_threshold(GST_CAT_DEFAULT) >= GST_LEVEL_LOG) {
    run.client.http_log = [this](char direction, const std::string &line) {
      GST_LOG_OBJECT(src, "HTTP %c %s", direction, line.c_str());
    };
  }
  if (run.task_id.empty()) {
    if (auto problem = see2ai::validate(run.request)) {
      post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
                 local_error("Invalid property \"" + property_name_for_field(problem->field) +
                             "\": " + problem->message),
                 ERROR_SITE, "nothing was submitted");
      return false;
    }
  }
  if (run.client.api_key.empty()) {
    post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_AUTHORIZED,
               local_error("No API key: set the \"api-key\" property or SEE2AI_API_KEY"),
               ERROR_SITE, "nothing was submitted");
    return false;
  }
  local_advice.clear();
  for (const auto &advice : see2ai::advisories(run.request)) {
    // Each piece of advice starts with the request field it is about; here it names the property.
    const size_t field_end = advice.find('=');
    const std::string text =
        field_end == std::string::npos
            ? advice
            : property_name_for_field(advice.substr(0, field_end)) + advice.substr(field_end);
    GST_ELEMENT_WARNING(src, RESOURCE, SETTINGS, ("%s", text.c_str()), (nullptr));
    local_advice.insert(advice);
  }

  prompt = run.request.prompt.value_or("");
  is_live = run.is_live;
  loop = run.loop;
  job = std::make_unique<see2ai::GenerationJob>(run.client, run.request, *this);
  if (!run.task_id.empty()) job->set_attach_task_id(run.task_id);
  if (run.cache_mode != CacheMode::Off) job->set_cache(run.cache_dir, run.cache_mode);
  rerun_resumes = run.cache_mode != CacheMode::Off || !run.task_id.empty();
  {
    std::lock_guard<std::mutex> guard(job_lock);
    files.clear();
    job_done = false;
    job_error.reset();
    flushing = false;
  }
  from_cache = FALSE;
  file_index = 0;
  video = OutputPad();
  audio = OutputPad();
  picture_end = GST_CLOCK_TIME_NONE;
  queues.set_flushing(false);
  gst_segment_init(&segment, GST_FORMAT_TIME);
  need_segment = false;
  segment_seqnum = gst_util_seqnum_next();
  live_base = GST_CLOCK_TIME_NONE;
  eos_requested = false;
  clip_duration = -1;
  last_end = 0;
  group_id = gst_util_group_id_next();
  job_thread = std::thread([this] { run_job(); });
  gst_task_start(task);
  return true;
}

void GstSee2aiVideoSrcPrivate::stop() {
  queues.set_flushing(true);
  {
    std::lock_guard<std::mutex> guard(job_lock);
    flushing = true;
    for (auto &f : files)
      if (f) f->cancel();
  }
  job_cond.notify_all();
  if (job) job->cancel();
  // The running iteration may pause the task itself (finish()): stop again once it is over.
  gst_task_stop(task);
  g_rec_mutex_lock(&task_lock);
  g_rec_mutex_unlock(&task_lock);
  gst_task_stop(task);
  gst_task_join(task);
  if (job_thread.joinable()) job_thread.join();
  job.reset();
  decoder.reset();
  file.reset();
  {
    std::lock_guard<std::mutex> guard(job_lock);
    files.clear();
  }
  remove_pads();
}

void GstSee2aiVideoSrcPrivate::remove_pads() {
  queues.set_flushing(true);
  for (OutputPad *out : {&video, &audio}) {
    if (!out->pad) continue;
    gst_pad_stop_task(out->pad);
    gst_pad_set_active(out->pad, FALSE);
    gst_element_remove_pad(GST_ELEMENT(src), out->pad);
    out->pad = nullptr;
  }
  queues.clear();
}

// Serialized events travel through the queues, in order with the buffers; flushes go at once.
void GstSee2aiVideoSrcPrivate::push_event_all(GstEvent *event) {
  for (OutputPad *out : {&video, &audio}) {
    if (!out->pad) continue;
    // FLUSH_STOP is serialized but comes from the seeking thread while the pad tasks are paused:
    // pushed at once, so each pad accepts events again (a second sink's copy of the same seek,
    // say) before the seek returns.
    if (GST_EVENT_IS_SERIALIZED(event) && GST_EVENT_TYPE(event) != GST_EVENT_FLUSH_STOP)
      queues.push(out->queue, GST_MINI_OBJECT_CAST(gst_event_ref(event)));
    else
      gst_pad_push_event(out->pad, gst_event_ref(event));
  }
  gst_event_unref(event);
}

// Asked on the video pad's own thread: a query from the decoding thread could wait on a pad
// block that uridecodebin only lifts at no-more-pads. Live, the query is not asked at all: a
// serialized query that reaches a live aggregator through tee and queue can wait forever on the
// aggregator's running output, so live peers are taken to read GstVideoMeta (compositor,
// videoconvert, videoscale and the encoders all do).
GstBuffer *GstSee2aiVideoSrcPrivate::adapt_to_peer(GstBuffer *buffer) {
  if (is_live) return buffer;
  if (gst_pad_check_reconfigure(video.pad) || !video.allocation_known) {
    GstCaps *caps = gst_pad_get_current_caps(video.pad);
    GstQuery *query = gst_query_new_allocation(caps, FALSE);
    video.copy_frames = !gst_pad_peer_query(video.pad, query) ||
                        !gst_query_find_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
    video.allocation_known = true;
    gst_query_unref(query);
    if (caps) gst_caps_unref(caps);
    GST_DEBUG_OBJECT(src, "downstream %s GstVideoMeta", video.copy_frames ? "lacks" : "reads");
  }
  return video.copy_frames ? video_buffer_to_default_layout(buffer, &video.pad_video_info) : buffer;
}

void GstSee2aiVideoSrcPrivate::pad_loop(size_t index, GstPad *pad) {
  GstMiniObject *item = queues.pop(index);
  if (!item) {
    gst_pad_pause_task(pad);
    return;
  }
  if (GST_IS_BUFFER(item)) {
    GstBuffer *buffer = GST_BUFFER_CAST(item);
    if (is_live && !wait_for_running_time(index, GST_BUFFER_PTS(buffer))) {
      gst_buffer_unref(buffer);
      gst_pad_pause_task(pad);
      return;
    }
    OutputPad &out = pad == video.pad ? video : audio;
    if (out.downstream_eos) {
      // Like a demuxer: once downstream said EOS on this pad, it gets nothing more.
      gst_buffer_unref(buffer);
      queues.report(index, GST_FLOW_EOS);
      return;
    }
    if (pad == video.pad) buffer = adapt_to_peer(buffer);
    GstFlowReturn ret = buffer ? gst_pad_push(pad, buffer) : GST_FLOW_ERROR;
    if (ret == GST_FLOW_EOS) out.downstream_eos = true;
    queues.report(index, ret);
    if (ret == GST_FLOW_FLUSHING) gst_pad_pause_task(pad);
    return;
  }
  GstEvent *event = GST_EVENT_CAST(item);
  const bool last =
      GST_EVENT_TYPE(event) == GST_EVENT_EOS || GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT_DONE;
  if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
    // A later result file in another format: the stream in the collection describes it from now
    // on, and the video frames after this event have its layout.
    GstCaps *caps = nullptr;
    gst_event_parse_caps(event, &caps);
    if (GstStream *stream = gst_pad_get_stream(pad)) {
      gst_stream_set_caps(stream, caps);
      gst_object_unref(stream);
    }
    if (pad == video.pad) {
      gst_video_info_from_caps(&video.pad_video_info, caps);
      video.allocation_known = false;
    }
  }
  gst_pad_push_event(pad, event);
  if (last) gst_pad_pause_task(pad);
}

struct PadTaskData {
  GstSee2aiVideoSrcPrivate *priv;
  size_t index;
  GstPad *pad;
};

void GstSee2aiVideoSrcPrivate::start_pad_tasks() {
  for (OutputPad *out : {&video, &audio}) {
    if (!out->pad) continue;
    out->downstream_eos = false;
    // A paused task restarts with the data it was created with (gst_pad_start_task would drop
    // new data without freeing it).
    GstTask *existing = GST_PAD_TASK(out->pad);
    if (existing) {
      gst_task_start(existing);
      continue;
    }
    gst_pad_start_task(
        out->pad,
        [](gpointer data) {
          auto *task_data = static_cast<PadTaskData *>(data);
          task_data->priv->pad_loop(task_data->index, task_data->pad);
        },
        new PadTaskData{this, out->queue, out->pad},
        [](gpointer data) { delete static_cast<PadTaskData *>(data); });
  }
}

void GstSee2aiVideoSrcPrivate::pause_pad_tasks() {
  for (OutputPad *out : {&video, &audio})
    if (out->pad) gst_pad_pause_task(out->pad);
}

// Ends streaming: EOS downstream on every pad and the task pauses. Errors were posted before.
void GstSee2aiVideoSrcPrivate::finish(GstFlowReturn reason) {
  GST_DEBUG_OBJECT(src, "pausing task: %s", gst_flow_get_name(reason));
  gst_task_pause(task);
  if (reason == GST_FLOW_FLUSHING) return;
  if (reason == GST_FLOW_NOT_LINKED || reason < GST_FLOW_EOS) {
    gchar *debug = g_strdup_printf("streaming stopped, reason %s (%d)", gst_flow_get_name(reason),
                                   static_cast<int>(reason));
    post_error(GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
               local_error("Internal data stream error."), ERROR_SITE, debug, reason);
    g_free(debug);
  }
  if (reason == GST_FLOW_EOS && (segment.flags & GST_SEGMENT_FLAG_SEGMENT)) {
    const gint64 stop =
        static_cast<gint64>(GST_CLOCK_TIME_IS_VALID(segment.stop) ? segment.stop : position());
    GstMessage *done = gst_message_new_segment_done(GST_OBJECT(src), GST_FORMAT_TIME, stop);
    gst_message_set_seqnum(done, segment_seqnum);
    gst_element_post_message(GST_ELEMENT(src), done);
    GstEvent *event = gst_event_new_segment_done(GST_FORMAT_TIME, stop);
    gst_event_set_seqnum(event, segment_seqnum);
    push_event_all(event);
    return;
  }
  GstEvent *eos = gst_event_new_eos();
  gst_event_set_seqnum(eos, segment_seqnum);
  push_event_all(eos);
}

static gboolean src_pad_query(GstPad *pad, GstObject *parent, GstQuery *query);
static gboolean src_pad_event(GstPad *pad, GstObject *parent, GstEvent *event);

GstPad *GstSee2aiVideoSrcPrivate::add_output_pad(GstStaticPadTemplate *templ, const char *name,
                                                 GstCaps *caps, const char *codec_tag,
                                                 const std::string &codec,
                                                 const std::string &container) {
  GstPad *pad = gst_pad_new_from_static_template(templ, name);
  gst_pad_set_query_function(pad, src_pad_query);
  gst_pad_set_event_function(pad, src_pad_event);
  gst_pad_use_fixed_caps(pad);
  gst_pad_set_active(pad, TRUE);
  gchar *stream_id = gst_pad_create_stream_id(pad, GST_ELEMENT(src), name);
  GstEvent *start = gst_event_new_stream_start(stream_id);
  gst_event_set_group_id(start, group_id);
  GstStream *stream = gst_stream_new(
      stream_id, caps, templ == &video_template ? GST_STREAM_TYPE_VIDEO : GST_STREAM_TYPE_AUDIO,
      GST_STREAM_FLAG_NONE);
  gst_event_set_stream(start, stream);
  gst_object_unref(stream);
  g_free(stream_id);
  gst_pad_push_event(pad, start);
  gst_pad_set_caps(pad, caps);
  GstEvent *segment_event = gst_event_new_segment(&segment);
  gst_event_set_seqnum(segment_event, segment_seqnum);
  gst_pad_push_event(pad, segment_event);
  GstTagList *tags = gst_tag_list_new_empty();
  gst_tag_list_add(tags, GST_TAG_MERGE_REPLACE, codec_tag, codec.c_str(), GST_TAG_CONTAINER_FORMAT,
                   container.c_str(), nullptr);
  if (!prompt.empty())
    gst_tag_list_add(tags, GST_TAG_MERGE_REPLACE, GST_TAG_TITLE, prompt.c_str(), nullptr);
  gst_pad_push_event(pad, gst_event_new_tag(tags));
  gst_element_add_pad(GST_ELEMENT(src), pad);
  return pad;
}

// Buffers described differently from now on (a later result file, or frames whose size, pixel
// format, rate or channels differ from what the container said): new caps, in stream order.
void GstSee2aiVideoSrcPrivate::announce_video(const see2ai::VideoStreamInfo &stream) {
  GstVideoInfo next;
  if (!video_info_from_stream(stream, &next))
    throw MediaError(true, "the clip's video format is not supported");
  video.video_stream = stream;
  if (gst_video_info_is_equal(&next, &video.video_info)) return;
  video.video_info = next;
  GstCaps *caps = gst_video_info_to_caps(&next);
  GST_INFO_OBJECT(src, "video caps now %" GST_PTR_FORMAT, caps);
  queues.push(video.queue, GST_MINI_OBJECT_CAST(gst_event_new_caps(caps)));
  gst_caps_unref(caps);
}

void GstSee2aiVideoSrcPrivate::announce_audio(const see2ai::AudioStreamInfo &stream) {
  GstAudioInfo next;
  if (!audio_info_from_stream(stream, &next))
    throw MediaError(true, "the clip's audio format is not supported");
  audio.audio_stream = stream;
  if (gst_audio_info_is_equal(&next, &audio.audio_info)) return;
  audio.audio_info = next;
  GstCaps *caps = gst_audio_info_to_caps(&next);
  GST_INFO_OBJECT(src, "audio caps now %" GST_PTR_FORMAT, caps);
  queues.push(audio.queue, GST_MINI_OBJECT_CAST(gst_event_new_caps(caps)));
  gst_caps_unref(caps);
}

// The decoder's frames are the truth: HE-AAC doubles the rate the container gives, parametric
// stereo turns mono into stereo, a stream may change its picture size.
void GstSee2aiVideoSrcPrivate::follow_frame_format(const see2ai::DecodedFrame &frame) {
  const AVFrame *f = frame.frame;
  if (frame.kind == see2ai::StreamKind::Video) {
    const see2ai::VideoStreamInfo &now = video.video_stream;
    if (f->width == now.width && f->height == now.height && f->format == now.pixel_format) return;
    see2ai::VideoStreamInfo next = now;
    next.width = f->width;
    next.height = f->height;
    next.pixel_format = static_cast<AVPixelFormat>(f->format);
    announce_video(next);
    return;
  }
  const see2ai::AudioStreamInfo &now = audio.audio_stream;
  if (f->sample_rate == now.sample_rate && f->ch_layout.nb_channels == now.channels &&
      f->format == now.sample_format)
    return;
  see2ai::AudioStreamInfo next = now;
  next.sample_rate = f->sample_rate;
  next.channels = f->ch_layout.nb_channels;
  next.channel_mask = f->ch_layout.order == AV_CHANNEL_ORDER_NATIVE ? f->ch_layout.u.mask : 0;
  next.sample_format = static_cast<AVSampleFormat>(f->format);
  announce_audio(next);
}

void GstSee2aiVideoSrcPrivate::configure_pads(const see2ai::ClipInfo &info) {
  if (video.pad || audio.pad) {
    // Streams the first file lacked have no pad (pads are final after no-more-pads): skipped.
    if (video.pad && info.video) announce_video(*info.video);
    if (audio.pad && info.audio) announce_audio(*info.audio);
    return;
  }
  GstStreamCollection *collection = gst_stream_collection_new(nullptr);
  if (info.video) {
    video.video_stream = *info.video;
    if (!video_info_from_stream(*info.video, &video.video_info))
      throw MediaError(true, "the clip's video format is not supported");
    video.pad_video_info = video.video_info;
    GstCaps *caps = gst_video_info_to_caps(&video.video_info);
    video.pad = add_output_pad(&video_template, "video", caps, GST_TAG_VIDEO_CODEC,
                               info.video->codec_name, info.container);
    gst_caps_unref(caps);
    GstStream *stream = gst_pad_get_stream(video.pad);
    if (stream) gst_stream_collection_add_stream(collection, stream);
  }
  if (info.audio) {
    audio.audio_stream = *info.audio;
    if (!audio_info_from_stream(*info.audio, &audio.audio_info))
      throw MediaError(true, "the clip's audio format is not supported");
    GstCaps *caps = gst_audio_info_to_caps(&audio.audio_info);
    audio.pad = add_output_pad(&audio_template, "audio", caps, GST_TAG_AUDIO_CODEC,
                               info.audio->codec_name, info.container);
    gst_caps_unref(caps);
    GstStream *stream = gst_pad_get_stream(audio.pad);
    if (stream) gst_stream_collection_add_stream(collection, stream);
  }
  gst_element_post_message(GST_ELEMENT(src),
                           gst_message_new_stream_collection(GST_OBJECT(src), collection));
  gst_object_unref(collection);
  gst_element_no_more_pads(GST_ELEMENT(src));
  for (OutputPad *out : {&video, &audio})
    if (out->pad) out->queue = queues.add(out->pad);
  start_pad_tasks();
}

// Waits for the next result file, opens a decoder on it, and makes the pads for the first one.
// False when the task paused (flushing, failure, or nothing more to play).
bool GstSee2aiVideoSrcPrivate::open_next_file() {
  {
    std::unique_lock<std::mutex> guard(job_lock);
    job_cond.wait(guard, [this] {
      return flushing || job_done || eos_requested ||
             (file_index < files.size() && files[file_index]);
    });
    if (eos_requested && !flushing) return false;
    if (flushing) {
      guard.unlock();
      finish(GST_FLOW_FLUSHING);
      return false;
    }
    if (file_index < files.size() && files[file_index]) {
      file = files[file_index];
    } else if (job_error) {
      std::unique_ptr<ServiceError> error = std::move(job_error);
      guard.unlock();
      post_service_error(*error, ERROR_SITE);
      finish(error->kind == ErrorKind::Cancelled ? GST_FLOW_FLUSHING : GST_FLOW_EOS);
      return false;
    } else {
      guard.unlock();
      if (file_index == 0)
        post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
                   local_error("The task succeeded without a result file"), ERROR_SITE);
      finish(GST_FLOW_EOS);
      return false;
    }
  }
  decoder = std::make_unique<ClipDecoder>(file);
  if (file_index == 0) clip_duration = decoder->info().duration_ns;
  configure_pads(decoder->info());
  // Both pads go on from the same point so they stay in step over files and loops: after both
  // (a loop trims the sound to the picture, see push_frame, so that is where the picture ends).
  const GstClockTime start = MAX(video.end, audio.end);
  video.offset = audio.offset = start;
  const auto &picture = decoder->info().video;
  picture_end = loop && video.pad && picture && picture->duration_ns > 0
                    ? start + static_cast<GstClockTime>(picture->duration_ns)
                    : GST_CLOCK_TIME_NONE;
  return true;
}

void GstSee2aiVideoSrcPrivate::push_frame(see2ai::DecodedFrame &frame) {
  OutputPad &out = frame.kind == see2ai::StreamKind::Video ? video : audio;
  if (!out.pad) return;
  follow_frame_format(frame);
  GstBuffer *buffer = frame.kind == see2ai::StreamKind::Video
                          ? video_buffer_from_frame(frame.frame, &out.video_info)
                          : audio_buffer_from_frame(frame.frame, &out.audio_info);
  if (!buffer) throw MediaError(true, "a decoded frame does not match the stream's format");
  GstClockTime pts = out.offset + static_cast<GstClockTime>(MAX(frame.pts_ns, 0));
  GstClockTime duration = static_cast<GstClockTime>(MAX(frame.duration_ns, 0));
  if (&out == &audio && GST_CLOCK_TIME_IS_VALID(picture_end) && pts + duration > picture_end) {
    // Looping: the sound of one play ends with its picture (AAC pads its last frame), or every
    // loop would put the sound further behind the picture.
    if (pts >= picture_end) {
      gst_buffer_unref(buffer);
      return;
    }
    const gsize samples =
        gst_util_uint64_scale_round(picture_end - pts, out.audio_info.rate, GST_SECOND);
    buffer = gst_audio_buffer_truncate(buffer, out.audio_info.bpf, 0, samples);
    duration = picture_end - pts;
  }
  out.end = MAX(out.end, pts + duration);
  last_end = MAX(video.end, audio.end);
  if (is_live) {
    if (!wait_until_playing()) {
      gst_buffer_unref(buffer);
      finish(GST_FLOW_FLUSHING);
      return;
    }
    pts += live_base;
  }
  GST_BUFFER_PTS(buffer) = pts;
  GST_BUFFER_DURATION(buffer) = duration;
  if (frame.discont && (out.offset == 0 || need_segment))
    GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
  if (need_segment) {
    need_segment = false;
    GstEvent *event = gst_event_new_segment(&segment);
    gst_event_set_seqnum(event, segment_seqnum);
    push_event_all(event);
  }
  GstFlowReturn ret = queues.push(out.queue, GST_MINI_OBJECT_CAST(buffer));
  if (ret != GST_FLOW_OK) finish(ret);
}

// Next result file, the first one again when looping, or the end.
void GstSee2aiVideoSrcPrivate::end_of_file() {
  decoder.reset();
  file.reset();
  ++file_index;
  bool more;
  {
    std::lock_guard<std::mutex> guard(job_lock);
    more = !job_done || file_index < files.size();
    if (!more && loop && !files.empty()) {
      file_index = 0;
      more = true;
    }
  }
  if (!more) finish(GST_FLOW_EOS);
}

// Live sources push in PLAYING only; the first buffer fixes where the clip sits in running time.
bool GstSee2aiVideoSrcPrivate::wait_until_playing() {
  std::unique_lock<std::mutex> guard(live_lock);
  live_cond.wait(guard, [this] {
    std::lock_guard<std::mutex> job_guard(job_lock);
    return playing || flushing;
  });
  if (!playing) return false;
  if (!GST_CLOCK_TIME_IS_VALID(live_base)) {
    GstClock *clock = gst_element_get_clock(GST_ELEMENT(src));
    live_base = 0;
    if (clock) {
      GstClockTime now = gst_clock_get_time(clock);
      GstClockTime base = gst_element_get_base_time(GST_ELEMENT(src));
      live_base = now > base ? now - base : 0;
      gst_object_unref(clock);
    }
    GST_DEBUG_OBJECT(src, "live clip starts at running time %" GST_TIME_FORMAT,
                     GST_TIME_ARGS(live_base));
  }
  return true;
}

void GstSee2aiVideoSrcPrivate::set_playing(bool value) {
  {
    std::lock_guard<std::mutex> guard(live_lock);
    playing = value;
  }
  live_cond.notify_all();
  if (!value) unschedule_clock_waits();
}

// A live source hands each buffer over at its running time, like a capture device would, so
// sinks that do not sync (filesink, hlssink2's, appsink sync=false) still get real time.
// False when the element is stopping.
bool GstSee2aiVideoSrcPrivate::wait_for_running_time(size_t index, GstClockTime running_time) {
  while (true) {
    {
      std::unique_lock<std::mutex> guard(live_lock);
      live_cond.wait(guard, [this] {
        std::lock_guard<std::mutex> job_guard(job_lock);
        return playing || flushing;
      });
      if (!playing) return false;
    }
    GstClock *clock = gst_element_get_clock(GST_ELEMENT(src));
    if (!clock) return true;
    GstClockID id = gst_clock_new_single_shot_id(
        clock, gst_element_get_base_time(GST_ELEMENT(src)) + running_time);
    gst_object_unref(clock);
    {
      std::lock_guard<std::mutex> guard(clock_lock);
      clock_waits[index] = id;
    }
    bool still_playing;
    {
      std::lock_guard<std::mutex> guard(live_lock);
      still_playing = playing;
    }
    // Unscheduled before or during the wait (pause, stop): the wait returns UNSCHEDULED.
    GstClockReturn ret = still_playing ? gst_clock_id_wait(id, nullptr) : GST_CLOCK_UNSCHEDULED;
    {
      std::lock_guard<std::mutex> guard(clock_lock);
      clock_waits[index] = nullptr;
    }
    gst_clock_id_unref(id);
    if (ret != GST_CLOCK_UNSCHEDULED) return true;
  }
}

void GstSee2aiVideoSrcPrivate::unschedule_clock_waits() {
  std::lock_guard<std::mutex> guard(clock_lock);
  for (GstClockID id : clock_waits)
    if (id) gst_clock_id_unschedule(id);
}

// Like GstBaseSrc: EOS after what is already queued. Before the clip exists there is nothing to
// end downstream, so the run stops with an error that says how to resume.
bool GstSee2aiVideoSrcPrivate::request_eos() {
  GST_INFO_OBJECT(src, "EOS requested");
  {
    std::lock_guard<std::mutex> guard(job_lock);
    eos_requested = true;
  }
  job_cond.notify_all();
  return true;
}

GstClockTime GstSee2aiVideoSrcPrivate::position() const {
  return last_end;
}

// Seeking needs the whole clip on disk (one file, not live, not looping).
bool GstSee2aiVideoSrcPrivate::seekable() {
  if (is_live || loop) return false;
  std::lock_guard<std::mutex> guard(job_lock);
  return job_done && !job_error && files.size() == 1 && files[0] && files[0]->complete();
}

bool GstSee2aiVideoSrcPrivate::handle_seek(GstEvent *event) {
  gdouble rate;
  GstFormat format;
  GstSeekFlags flags;
  GstSeekType start_type, stop_type;
  gint64 start, stop;
  gst_event_parse_seek(event, &rate, &format, &flags, &start_type, &start, &stop_type, &stop);
  if (format != GST_FORMAT_TIME || rate != 1.0 || !seekable()) {
    GST_DEBUG_OBJECT(src, "refusing seek (format %s, rate %f)", gst_format_get_name(format), rate);
    return false;
  }
  const bool flush = flags & GST_SEEK_FLAG_FLUSH;
  const guint32 seqnum = gst_event_get_seqnum(event);
  if (flush) {
    GstEvent *flush_start = gst_event_new_flush_start();
    gst_event_set_seqnum(flush_start, seqnum);
    push_event_all(flush_start);
    queues.set_flushing(true);
    pause_pad_tasks();
  }
  gst_task_pause(task);
  g_rec_mutex_lock(&task_lock);
  gboolean update;
  gst_segment_do_seek(&segment, rate, format, flags, start_type, start, stop_type, stop, &update);
  segment.position = segment.start;
  segment.time = segment.start;
  bool ok = true;
  try {
    if (!decoder) {
      file_index = 0;
      std::lock_guard<std::mutex> guard(job_lock);
      file = files[0];
    }
    if (!decoder) decoder = std::make_unique<ClipDecoder>(file);
    if ((flags & GST_SEEK_FLAG_KEY_UNIT) && !(flags & GST_SEEK_FLAG_ACCURATE)) {
      // The segment starts at the key frame (at or before the target, the one a decoder can
      // start from), so nothing is decoded only to be dropped.
      const auto key = static_cast<GstClockTime>(
          decoder->seek_to_key_frame(static_cast<int64_t>(segment.start)));
      GST_DEBUG_OBJECT(src, "key-unit seek to %" GST_TIME_FORMAT " starts at %" GST_TIME_FORMAT,
                       GST_TIME_ARGS(segment.start), GST_TIME_ARGS(key));
      segment.start = segment.time = segment.position = key;
    } else {
      decoder->seek(static_cast<int64_t>(segment.start), flags & GST_SEEK_FLAG_ACCURATE);
    }
    video.offset = audio.offset = 0;
    video.end = audio.end = segment.start;
    last_end = segment.start;
  } catch (const MediaError &error) {
    GST_WARNING_OBJECT(src, "seek failed: %s", error.what());
    ok = false;
  }
  if (flush) {
    GstEvent *flush_stop = gst_event_new_flush_stop(TRUE);
    gst_event_set_seqnum(flush_stop, seqnum);
    queues.set_flushing(false);
    push_event_all(flush_stop);
    start_pad_tasks();
  }
  segment_seqnum = seqnum;
  need_segment = true;
  queues.new_segment();
  if (flags & GST_SEEK_FLAG_SEGMENT)
    gst_element_post_message(GST_ELEMENT(src),
                             gst_message_new_segment_start(GST_OBJECT(src), GST_FORMAT_TIME,
                                                           static_cast<gint64>(segment.start)));
  gst_task_start(task);
  g_rec_mutex_unlock(&task_lock);
  return ok;
}

void GstSee2aiVideoSrcPrivate::loop_iteration() {
  if (eos_requested) {
    if (!video.pad && !audio.pad) {
      if (job) job->cancel();
      std::string task;
      {
        std::lock_guard<std::mutex> guard(lock);
        task = current_task_id;
      }
      post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
                 local_error("Stopped before the clip was ready" +
                             (task.empty() ? std::string() : ": task " + task)),
                 ERROR_SITE,
                 rerun_resumes ? "the task goes on at the service; running the same request again "
                                 "resumes it without a second charge"
                               : "the task goes on at the service; set task-id to it to play it "
                                 "without a second charge (cache-mode=off keeps no journal)");
    }
    decoder.reset();
    finish(GST_FLOW_EOS);
    return;
  }
  try {
    if (!decoder && !open_next_file()) return;
    std::optional<see2ai::DecodedFrame> frame = decoder->next();
    if (frame && GST_CLOCK_TIME_IS_VALID(segment.stop) &&
        static_cast<GstClockTime>(MAX(frame->pts_ns, 0)) >= segment.stop) {
      decoder.reset();
      finish(GST_FLOW_EOS);
    } else if (frame) {
      push_frame(*frame);
    } else {
      end_of_file();
    }
  } catch (const MediaError &error) {
    // A download that failed for good shows up here as a read error: report the job's cause.
    std::unique_lock<std::mutex> guard(job_lock);
    if (flushing) {
      guard.unlock();
      finish(GST_FLOW_FLUSHING);
      return;
    }
    if (file && !file->error().empty()) job_cond.wait(guard, [this] { return job_done; });
    std::unique_ptr<ServiceError> job_failure = std::move(job_error);
    guard.unlock();
    if (job_failure) {
      post_service_error(*job_failure, ERROR_SITE);
    } else {
      post_error(GST_STREAM_ERROR, error.decode ? GST_STREAM_ERROR_DECODE : GST_STREAM_ERROR_DEMUX,
                 local_error(error.what()), ERROR_SITE);
    }
    finish(GST_FLOW_EOS);
  }
}

static gboolean src_pad_query(GstPad *pad, GstObject *parent, GstQuery *query) {
  auto *self = GST_SEE2AI_VIDEO_SRC(parent);
  GstSee2aiVideoSrcPrivate *priv = self->priv;
  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_DURATION: {
      GstFormat format;
      gst_query_parse_duration(query, &format, nullptr);
      if (format != GST_FORMAT_TIME) break;
      gint64 duration = priv->clip_duration;
      if (duration < 0 || priv->loop) return FALSE;
      gst_query_set_duration(query, GST_FORMAT_TIME, duration);
      return TRUE;
    }
    case GST_QUERY_POSITION: {
      GstFormat format;
      gst_query_parse_position(query, &format, nullptr);
      if (format != GST_FORMAT_TIME) break;
      gst_query_set_position(query, GST_FORMAT_TIME, static_cast<gint64>(priv->position()));
      return TRUE;
    }
    case GST_QUERY_SEEKING: {
      GstFormat format;
      gst_query_parse_seeking(query, &format, nullptr, nullptr, nullptr);
      if (format != GST_FORMAT_TIME) break;
      gint64 duration = priv->clip_duration;
      gst_query_set_seeking(query, GST_FORMAT_TIME, priv->seekable(), 0, duration);
      return TRUE;
    }
    case GST_QUERY_LATENCY: {
      // Live: a frame's worth (24 fps); the clip is decoded ahead, so no more is needed.
      gst_query_set_latency(query, priv->is_live, priv->is_live ? GST_SECOND / 24 : 0,
                            GST_CLOCK_TIME_NONE);
      return TRUE;
    }
    case GST_QUERY_SCHEDULING:
      gst_query_set_scheduling(query, GST_SCHEDULING_FLAG_SEEKABLE, 1, -1, 0);
      gst_query_add_scheduling_mode(query, GST_PAD_MODE_PUSH);
      return TRUE;
    default:
      break;
  }
  return gst_pad_query_default(pad, parent, query);
}

static gboolean src_pad_event(GstPad *pad, GstObject *parent, GstEvent *event) {
  auto *self = GST_SEE2AI_VIDEO_SRC(parent);
  if (GST_EVENT_TYPE(event) == GST_EVENT_SEEK) {
    gboolean ok = self->priv->handle_seek(event);
    gst_event_unref(event);
    return ok;
  }
  return gst_pad_event_default(pad, parent, event);
}

static gboolean gst_see2ai_video_src_send_event(GstElement *element, GstEvent *event) {
  auto *self = GST_SEE2AI_VIDEO_SRC(element);
  if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) {
    gst_event_unref(event);
    return self->priv->request_eos();
  }
  if (GST_EVENT_TYPE(event) == GST_EVENT_SEEK) {
    gboolean ok = self->priv->handle_seek(event);
    gst_event_unref(event);
    return ok;
  }
  return GST_ELEMENT_CLASS(gst_see2ai_video_src_parent_class)->send_event(element, event);
}

static GstStateChangeReturn gst_see2ai_video_src_change_state(GstElement *element,
                                                              GstStateChange transition) {
  auto *self = GST_SEE2AI_VIDEO_SRC(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !self->priv->start())
    return GST_STATE_CHANGE_FAILURE;
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    self->priv->queues.set_flushing(true);
    std::lock_guard<std::mutex> guard(self->priv->job_lock);
    self->priv->flushing = true;
    for (auto &f : self->priv->files)
      if (f) f->cancel();
    self->priv->job_cond.notify_all();
  }
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) self->priv->set_playing(false);
  if (transition == GST_STATE_CHANGE_PLAYING_TO_PAUSED) self->priv->set_playing(false);
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_see2ai_video_src_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) return ret;
  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_PLAYING:
      self->priv->set_playing(true);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      self->priv->stop();
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      if (self->priv->is_live) ret = GST_STATE_CHANGE_NO_PREROLL;
      break;
    default:
      break;
  }
  return ret;
}

static void gst_see2ai_video_src_set_property(GObject *object, guint prop_id, const GValue *value,
                                              GParamSpec *pspec) {
  auto *self = GST_SEE2AI_VIDEO_SRC(object);
  GstSee2aiVideoSrcPrivate *priv = self->priv;
  std::lock_guard<std::mutex> guard(priv->lock);
  SrcSettings &s = priv->settings;
  for (const auto &p : kOptionalStringProps) {
    if (p.id != prop_id) continue;
    const char *text = g_value_get_string(value);
    if (text && *text)
      s.request.*p.member = text;
    else
      (s.request.*p.member).reset();
    return;
  }
  for (const auto &p : kStringListProps) {
    if (p.id != prop_id) continue;
    auto &list = s.request.*p.member;
    list.clear();
    for (guint i = 0; i < gst_value_array_get_size(value); ++i) {
      const char *text = g_value_get_string(gst_value_array_get_value(value, i));
      if (text && *text) list.emplace_back(text);
    }
    return;
  }
  for (const auto &p : kBoolProps) {
    if (p.id != prop_id) continue;
    s.request.*p.member = g_value_get_boolean(value);
    return;
  }
  auto string_or = [value](const char *fallback) {
    const char *text = g_value_get_string(value);
    return std::string(text ? text : fallback);
  };
  switch (prop_id) {
    case PROP_API_URL:
      s.client.api_url = string_or(kDefaultApiUrl);
      break;
    case PROP_API_KEY:
      s.client.api_key = string_or("");
      break;
    case PROP_MODEL:
      s.request.model = static_cast<see2ai::Model>(g_value_get_enum(value));
      break;
    case PROP_DURATION:
      s.request.duration = g_value_get_int(value);
      break;
    case PROP_RESOLUTION:
      s.request.resolution = kResolutions[g_value_get_enum(value)];
      break;
    case PROP_ASPECT_RATIO:
      s.request.aspect_ratio = kAspectRatios[g_value_get_enum(value)];
      break;
    case PROP_STATUS_PATH:
      s.client.status_path = string_or("/api/v1/status/{task_id}");
      break;
    case PROP_POLL_INTERVAL:
      s.client.poll_interval_ms = static_cast<int>(g_value_get_uint(value));
      break;
    case PROP_TIMEOUT:
      s.client.timeout_s = static_cast<int>(g_value_get_uint(value));
      break;
    case PROP_RETRIES:
      s.client.retries = static_cast<int>(g_value_get_uint(value));
      break;
    case PROP_SSL_STRICT:
      s.client.ssl_strict = g_value_get_boolean(value);
      break;
    case PROP_PROXY:
      s.client.proxy = string_or("");
      break;
    case PROP_USER_AGENT:
      s.client.user_agent = string_or("see2ai-gst/0.1");
      break;
    case PROP_TASK_ID:
      s.task_id = string_or("");
      break;
    case PROP_CACHE_DIR:
      s.cache_dir = string_or("");
      if (s.cache_dir.empty()) s.cache_dir = std::string(g_get_user_cache_dir()) + "/see2ai";
      break;
    case PROP_CACHE_MODE:
      s.cache_mode = static_cast<CacheMode>(g_value_get_enum(value));
      break;
    case PROP_IS_LIVE:
      s.is_live = g_value_get_boolean(value);
      break;
    case PROP_LOOP:
      s.loop = g_value_get_boolean(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
}

static void gst_see2ai_video_src_get_property(GObject *object, guint prop_id, GValue *value,
                                              GParamSpec *pspec) {
  auto *self = GST_SEE2AI_VIDEO_SRC(object);
  GstSee2aiVideoSrcPrivate *priv = self->priv;
  std::lock_guard<std::mutex> guard(priv->lock);
  const SrcSettings &s = priv->settings;
  for (const auto &p : kOptionalStringProps) {
    if (p.id != prop_id) continue;
    const auto &text = s.request.*p.member;
    g_value_set_string(value, text ? text->c_str() : nullptr);
    return;
  }
  for (const auto &p : kStringListProps) {
    if (p.id != prop_id) continue;
    for (const auto &text : s.request.*p.member) {
      GValue v = G_VALUE_INIT;
      g_value_init(&v, G_TYPE_STRING);
      g_value_set_string(&v, text.c_str());
      gst_value_array_append_and_take_value(value, &v);
    }
    return;
  }
  for (const auto &p : kBoolProps) {
    if (p.id != prop_id) continue;
    g_value_set_boolean(value, s.request.*p.member);
    return;
  }
  switch (prop_id) {
    case PROP_API_URL:
      g_value_set_string(value, s.client.api_url.c_str());
      break;
    case PROP_MODEL:
      g_value_set_enum(value, static_cast<gint>(s.request.model));
      break;
    case PROP_DURATION:
      g_value_set_int(value, s.request.duration);
      break;
    case PROP_RESOLUTION:
      g_value_set_enum(value, index_of(kResolutions, s.request.resolution));
      break;
    case PROP_ASPECT_RATIO:
      g_value_set_enum(value, index_of(kAspectRatios, s.request.aspect_ratio));
      break;
    case PROP_STATUS_PATH:
      g_value_set_string(value, s.client.status_path.c_str());
      break;
    case PROP_POLL_INTERVAL:
      g_value_set_uint(value, static_cast<guint>(s.client.poll_interval_ms));
      break;
    case PROP_TIMEOUT:
      g_value_set_uint(value, static_cast<guint>(s.client.timeout_s));
      break;
    case PROP_RETRIES:
      g_value_set_uint(value, static_cast<guint>(s.client.retries));
      break;
    case PROP_SSL_STRICT:
      g_value_set_boolean(value, s.client.ssl_strict);
      break;
    case PROP_PROXY:
      g_value_set_string(value, s.client.proxy.empty() ? nullptr : s.client.proxy.c_str());
      break;
    case PROP_USER_AGENT:
      g_value_set_string(value, s.client.user_agent.c_str());
      break;
    case PROP_TASK_ID: {
      const std::string &id = priv->current_task_id.empty() ? s.task_id : priv->current_task_id;
      g_value_set_string(value, id.empty() ? nullptr : id.c_str());
      break;
    }
    case PROP_CACHE_DIR:
      g_value_set_string(value, s.cache_dir.c_str());
      break;
    case PROP_CACHE_MODE:
      g_value_set_enum(value, static_cast<gint>(s.cache_mode));
      break;
    case PROP_IS_LIVE:
      g_value_set_boolean(value, s.is_live);
      break;
    case PROP_LOOP:
      g_value_set_boolean(value, s.loop);
      break;
    case PROP_RESULT:
      g_value_set_boxed(value, priv->result);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
}

static void gst_see2ai_video_src_finalize(GObject *object) {
  auto *self = GST_SEE2AI_VIDEO_SRC(object);
  delete self->priv;
  G_OBJECT_CLASS(gst_see2ai_video_src_parent_class)->finalize(object);
}

static void gst_see2ai_video_src_init(GstSee2aiVideoSrc *self) {
  self->priv = new GstSee2aiVideoSrcPrivate(self);
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SOURCE);
}

static void gst_see2ai_video_src_class_init(GstSee2aiVideoSrcClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = gst_see2ai_video_src_set_property;
  gobject_class->get_property = gst_see2ai_video_src_get_property;
  gobject_class->finalize = gst_see2ai_video_src_finalize;
  element_class->change_state = gst_see2ai_video_src_change_state;
  element_class->send_event = gst_see2ai_video_src_send_event;

  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                           GST_PARAM_MUTABLE_READY);
  properties[PROP_API_URL] = g_param_spec_string(
      "api-url", "API URL",
      "Base URL of the SEE2AI service (default https://see2ai.com, or SEE2AI_API_URL when set)",
      kDefaultApiUrl, rw);
  properties[PROP_API_KEY] = g_param_spec_string(
      "api-key", "API key",
      "Tenant API key sent as a Bearer token (write-only; falls back to SEE2AI_API_KEY)", nullptr,
      static_cast<GParamFlags>(G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS |
                               GST_PARAM_MUTABLE_READY));
  properties[PROP_MODEL] = g_param_spec_enum(
      "model", "Model", "Model: standard (quality first) or fast (~80% of the price)",
      model_get_type(), static_cast<gint>(see2ai::Model::Standard), rw);
  for (const auto &p : kOptionalStringProps)
    properties[p.id] = g_param_spec_string(p.name, p.nick, p.blurb, nullptr, rw);
  for (const auto &p : kStringListProps)
    properties[p.id] = gst_param_spec_array(
        p.name, p.nick, p.blurb,
        g_param_spec_string("url", "URL", "A public http(s) URL", nullptr,
                            static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)),
        rw);
  properties[PROP_DURATION] = g_param_spec_int(
      "duration", "Duration", "Clip length in seconds: 4..15, or -1 to let the model decide", -1,
      15, 5, rw);
  properties[PROP_RESOLUTION] = g_param_spec_enum(
      "resolution", "Resolution", "Output resolution (short side)", resolution_get_type(), 0, rw);
  properties[PROP_ASPECT_RATIO] =
      g_param_spec_enum("aspect-ratio", "Aspect ratio",
                        "Frame shape; adaptive follows the first frame image, else 16:9",
                        aspect_ratio_get_type(), 0, rw);
  for (const auto &p : kBoolProps)
    properties[p.id] = g_param_spec_boolean(p.name, p.nick, p.blurb, p.default_value, rw);
  properties[PROP_STATUS_PATH] =
      g_param_spec_string("status-path", "Status path",
                          "Path template of the task status endpoint; {task_id} is replaced",
                          "/api/v1/status/{task_id}", rw);
  properties[PROP_POLL_INTERVAL] =
      g_param_spec_uint("poll-interval", "Poll interval",
                        "Milliseconds between status polls; 0 adapts (starts short, backs off)", 0,
                        600000, kDefaultPollIntervalMs, rw);
  properties[PROP_TIMEOUT] = g_param_spec_uint(
      "timeout", "Timeout", "Seconds from submit to the last byte of the download before giving up",
      1, 86400, kDefaultTimeoutS, rw);
  properties[PROP_RETRIES] = g_param_spec_uint(
      "retries", "Retries",
      "Retries of status polls and downloads (and of submits that provably never arrived)", 0, 100,
      kDefaultRetries, rw);
  properties[PROP_SSL_STRICT] =
      g_param_spec_boolean("ssl-strict", "Strict TLS",
                           "Refuse servers whose TLS certificate cannot be verified", TRUE, rw);
  properties[PROP_PROXY] = g_param_spec_string(
      "proxy", "Proxy", "HTTP proxy URI (default: the system's proxy settings)", nullptr, rw);
  properties[PROP_USER_AGENT] = g_param_spec_string(
      "user-agent", "User agent", "User-Agent header of every request", "see2ai-gst/0.1", rw);
  properties[PROP_TASK_ID] = g_param_spec_string(
      "task-id", "Task ID",
      "Set: attach to this existing task instead of submitting. Read: the current task", nullptr,
      rw);
  properties[PROP_CACHE_DIR] = g_param_spec_string(
      "cache-dir", "Cache directory",
      "Where finished clips and the resume journal are kept (default $XDG_CACHE_HOME/see2ai)",
      nullptr, rw);
  properties[PROP_CACHE_MODE] = g_param_spec_enum(
      "cache-mode", "Cache mode",
      "reuse: play a finished clip of the same request again for free; refresh: generate anew; "
      "off: no cache, no journal",
      cache_mode_get_type(), static_cast<gint>(CacheMode::Reuse), rw);
  properties[PROP_IS_LIVE] = g_param_spec_boolean(
      "is-live", "Is live",
      "Act as a live source: no preroll, buffers stamped in running time, so live mixers keep "
      "running while the clip is generated",
      FALSE, rw);
  properties[PROP_LOOP] = g_param_spec_boolean(
      "loop", "Loop", "Start the clip again at its end, forever, with continuous timestamps", FALSE,
      rw);
  properties[PROP_RESULT] = g_param_spec_boxed(
      "result", "Result",
      "Every output field of this run's task (state, tokens, cost, model, URLs, error "
      "message...): updated at each state change, then the final output; NULL until the first "
      "answer",
      GST_TYPE_STRUCTURE, static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_properties(gobject_class, PROP_RESULT + 1, properties);

  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_set_static_metadata(
      element_class, "SEE2AI video generation source", "Source/Video/Audio",
      "Generates a clip from a prompt (and optional reference images, frames, videos, audio) with "
      "the SEE2AI video generation service (Seedance 2.0) and plays it as raw video and audio. "
      "Every submitted request is billed in tokens; finished clips are cached and resumed, never "
      "paid twice",
      "see2ai-gst developers");

  gst_type_mark_as_plugin_api(model_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(resolution_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(aspect_ratio_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(cache_mode_get_type(), static_cast<GstPluginAPIFlags>(0));
  GST_DEBUG_CATEGORY_INIT(gst_see2ai_video_src_debug, "see2aivideosrc", 0,
                          "SEE2AI video generation source");
}

// see2ai://generate?prompt=...&duration=5 (any property by name, arrays as repeated keys) and
// see2ai://task/<task_id>. The API key never travels in a URI.
namespace {

bool uri_property(GParamSpec *pspec) {
  return (pspec->flags & G_PARAM_WRITABLE) && (pspec->flags & G_PARAM_READABLE) &&
         g_strcmp0(pspec->name, "api-key") != 0 && g_strcmp0(pspec->name, "name") != 0 &&
         g_strcmp0(pspec->name, "parent") != 0 && g_strcmp0(pspec->name, "task-id") != 0 &&
         pspec->owner_type == GST_TYPE_SEE2AI_VIDEO_SRC;
}

// Only the properties that describe the request go back to their defaults when a URI is set.
bool request_property(GParamSpec *pspec) {
  static const char *const kKept[] = {"api-url",   "status-path", "poll-interval", "timeout",
                                      "retries",   "ssl-strict",  "proxy",         "user-agent",
                                      "cache-dir", "cache-mode",  "is-live",       "loop"};
  for (const char *name : kKept)
    if (g_strcmp0(pspec->name, name) == 0) return false;
  return uri_property(pspec);
}

std::string value_text(GParamSpec *pspec, const GValue *value) {
  if (G_IS_PARAM_SPEC_ENUM(pspec)) {
    GEnumValue *v = g_enum_get_value(G_PARAM_SPEC_ENUM(pspec)->enum_class, g_value_get_enum(value));
    return v ? v->value_nick : "";
  }
  if (G_VALUE_HOLDS_STRING(value))
    return g_value_get_string(value) ? g_value_get_string(value) : "";
  gchar *text = gst_value_serialize(value);
  std::string result = text ? text : "";
  g_free(text);
  return result;
}

void append_param(std::string &query, const char *key, const std::string &value) {
  gchar *escaped = g_uri_escape_string(value.c_str(), nullptr, FALSE);
  query += query.empty() ? "" : "&";
  query += key;
  query += "=";
  query += escaped;
  g_free(escaped);
}

bool set_property_from_text(GObject *object, GParamSpec *pspec, const char *text, GError **error) {
  GValue value = G_VALUE_INIT;
  g_value_init(&value, pspec->value_type);
  bool ok = true;
  if (G_IS_PARAM_SPEC_ENUM(pspec)) {
    GEnumClass *klass = G_PARAM_SPEC_ENUM(pspec)->enum_class;
    GEnumValue *v = g_enum_get_value_by_nick(klass, text);
    if (!v) v = g_enum_get_value_by_name(klass, text);
    if (v) g_value_set_enum(&value, v->value);
    ok = v != nullptr;
  } else if (G_VALUE_HOLDS_STRING(&value)) {
    g_value_set_string(&value, text);
  } else {
    ok = gst_value_deserialize(&value, text) && !g_param_value_validate(pspec, &value);
  }
  if (ok)
    g_object_set_property(object, pspec->name, &value);
  else
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
                "see2ai URI: \"%s\" is not a valid value for \"%s\"", text, pspec->name);
  g_value_unset(&value);
  return ok;
}

gchar *see2ai_uri_get_uri(GstURIHandler *handler) {
  GObject *object = G_OBJECT(handler);
  auto *self = GST_SEE2AI_VIDEO_SRC(handler);
  {
    std::lock_guard<std::mutex> guard(self->priv->lock);
    if (!self->priv->settings.task_id.empty()) {
      gchar *escaped = g_uri_escape_string(self->priv->settings.task_id.c_str(), nullptr, FALSE);
      gchar *uri = g_strdup_printf("see2ai://task/%s", escaped);
      g_free(escaped);
      return uri;
    }
  }
  std::string query;
  guint n = 0;
  GParamSpec **specs = g_object_class_list_properties(G_OBJECT_GET_CLASS(object), &n);
  // What a new element would have: defaults some properties take from this machine (api-url from
  // SEE2AI_API_URL, cache-dir from the user's cache directory) stay out of the URI too.
  GObject *fresh = G_OBJECT(g_object_ref_sink(g_object_new(G_OBJECT_TYPE(object), nullptr)));
  for (guint i = 0; i < n; ++i) {
    GParamSpec *pspec = specs[i];
    if (!uri_property(pspec)) continue;
    GValue value = G_VALUE_INIT;
    GValue initial = G_VALUE_INIT;
    g_value_init(&value, pspec->value_type);
    g_value_init(&initial, pspec->value_type);
    g_object_get_property(object, pspec->name, &value);
    g_object_get_property(fresh, pspec->name, &initial);
    const bool changed = g_param_values_cmp(pspec, &value, &initial) != 0;
    g_value_unset(&initial);
    if (changed) {
      if (GST_VALUE_HOLDS_ARRAY(&value)) {
        for (guint j = 0; j < gst_value_array_get_size(&value); ++j) {
          const GValue *item = gst_value_array_get_value(&value, j);
          append_param(query, pspec->name,
                       g_value_get_string(item) ? g_value_get_string(item) : "");
        }
      } else {
        append_param(query, pspec->name, value_text(pspec, &value));
      }
    }
    g_value_unset(&value);
  }
  g_object_unref(fresh);
  g_free(specs);
  return g_strdup_printf("see2ai://generate%s%s", query.empty() ? "" : "?", query.c_str());
}

gboolean see2ai_uri_set_uri(GstURIHandler *handler, const gchar *uri, GError **error) {
  GObject *object = G_OBJECT(handler);
  if (GST_STATE(handler) > GST_STATE_READY) {
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_STATE,
                "see2ai URI: the URI can only be changed in the NULL or READY state");
    return FALSE;
  }
  GUri *parsed = g_uri_parse(uri, G_URI_FLAGS_ENCODED_QUERY, nullptr);
  if (!parsed || g_strcmp0(g_uri_get_scheme(parsed), "see2ai") != 0) {
    if (parsed) g_uri_unref(parsed);
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
                "not a see2ai URI: expected see2ai://generate?prompt=... or see2ai://task/<id>");
    return FALSE;
  }
  const char *host = g_uri_get_host(parsed);
  const char *path = g_uri_get_path(parsed);
  bool ok = true;
  if (g_strcmp0(host, "task") == 0) {
    const char *id = path && path[0] == '/' ? path + 1 : "";
    if (!*id) {
      g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "see2ai://task/ needs a task id");
      ok = false;
    } else {
      g_object_set(object, "task-id", id, nullptr);
    }
  } else if (g_strcmp0(host, "generate") == 0) {
    guint n = 0;
    GParamSpec **specs = g_object_class_list_properties(G_OBJECT_GET_CLASS(object), &n);
    for (guint i = 0; i < n; ++i) {
      if (!request_property(specs[i]) && g_strcmp0(specs[i]->name, "task-id") != 0) continue;
      GValue value = G_VALUE_INIT;
      g_value_init(&value, specs[i]->value_type);
      g_param_value_set_default(specs[i], &value);
      g_object_set_property(object, specs[i]->name, &value);
      g_value_unset(&value);
    }
    g_free(specs);
    std::vector<std::pair<std::string, GValue>> arrays;
    GUriParamsIter iter;
    g_uri_params_iter_init(&iter, g_uri_get_query(parsed) ? g_uri_get_query(parsed) : "", -1, "&",
                           G_URI_PARAMS_NONE);
    gchar *key = nullptr, *text = nullptr;
    while (ok && g_uri_params_iter_next(&iter, &key, &text, error)) {
      GParamSpec *pspec = g_object_class_find_property(G_OBJECT_GET_CLASS(object), key);
      if (g_strcmp0(key, "api-key") == 0) {
        g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
                    "see2ai URI: the API key never goes into a URI (use the api-key property or "
                    "SEE2AI_API_KEY)");
        ok = false;
      } else if (!pspec || !uri_property(pspec)) {
        g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
                    "see2ai URI: unknown or read-only property \"%s\"", key);
        ok = false;
      } else if (GST_IS_PARAM_SPEC_ARRAY_LIST(pspec)) {
        auto it = std::find_if(arrays.begin(), arrays.end(),
                               [key](const auto &a) { return a.first == key; });
        if (it == arrays.end()) {
          arrays.emplace_back(key, GValue(G_VALUE_INIT));
          it = std::prev(arrays.end());
          gst_value_array_init(&it->second, 3);
        }
        GValue item = G_VALUE_INIT;
        g_value_init(&item, G_TYPE_STRING);
        g_value_set_string(&item, text);
        gst_value_array_append_and_take_value(&it->second, &item);
      } else {
        ok = set_property_from_text(object, pspec, text, error);
      }
      g_free(key);
      g_free(text);
      key = text = nullptr;
    }
    if (error && *error) ok = false;
    for (auto &[name, value] : arrays) {
      if (ok) g_object_set_property(object, name.c_str(), &value);
      g_value_unset(&value);
    }
  } else {
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
                "see2ai URI: expected see2ai://generate?... or see2ai://task/<id>");
    ok = false;
  }
  g_uri_unref(parsed);
  return ok;
}

}  // namespace

static void gst_see2ai_video_src_uri_handler_init(gpointer g_iface, gpointer) {
  auto *iface = static_cast<GstURIHandlerInterface *>(g_iface);
  iface->get_type = [](GType) { return GST_URI_SRC; };
  iface->get_protocols = [](GType) -> const gchar *const * {
    static const gchar *const protocols[] = {"see2ai", nullptr};
    return protocols;
  };
  iface->get_uri = see2ai_uri_get_uri;
  iface->set_uri = see2ai_uri_set_uri;
}
