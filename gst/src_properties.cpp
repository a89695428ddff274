#include "src_properties.h"

#include <optional>
#include <vector>

#include "string_array.h"

using see2ai::CacheMode;
using see2ai::GenerationRequest;

namespace {

constexpr const char *kDefaultApiUrl = "https://see2ai.com";
constexpr const char *kDefaultStatusPath = "/api/v1/status/{task_id}";
constexpr const char *kDefaultUserAgent = "see2ai-gst/0.1";
constexpr int kDefaultPollIntervalMs = 0;
constexpr int kDefaultTimeoutS = 900;
constexpr int kDefaultRetries = 5;
// Room for a few hundred clips of a few MB: enough for any one channel's rotation, bounded for one
// whose prompt changes every hour.
constexpr guint64 kDefaultCacheMaxSize = guint64{2} * 1024 * 1024 * 1024;

GParamSpec *properties[N_PROPERTIES];

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

GType shot_switch_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(ShotSwitch::LoopEnd), "At the end of the current shot's play", "loop-end"},
      {static_cast<gint>(ShotSwitch::Immediate), "At once, at the next frame", "immediate"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstSee2aiShotSwitch", values));
  return type;
}

GType shot_failure_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(ShotFailure::Auto), "skip when live, error otherwise", "auto"},
      {static_cast<gint>(ShotFailure::Skip),
       "A warning; the stream goes on with another shot (an error only if none was ever on air)",
       "skip"},
      {static_cast<gint>(ShotFailure::Error), "An error when the failed shot's turn comes",
       "error"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstSee2aiShotFailure", values));
  return type;
}

template <size_t N>
int index_of(const char *const (&table)[N], const std::string &value) {
  for (size_t i = 0; i < N; ++i)
    if (value == table[i]) return static_cast<int>(i);
  return 0;
}

std::string default_cache_dir() {
  return std::string(g_get_user_cache_dir()) + "/see2ai";
}

}  // namespace

std::string env_or(const char *name, const char *fallback) {
  const char *value = g_getenv(name);
  return value && *value ? value : fallback;
}

SrcSettings::SrcSettings() {
  request.sync = false;
  client.api_url = env_or("SEE2AI_API_URL", kDefaultApiUrl);
  client.status_path = kDefaultStatusPath;
  client.user_agent = kDefaultUserAgent;
  client.poll_interval_ms = kDefaultPollIntervalMs;
  client.timeout_s = kDefaultTimeoutS;
  client.retries = kDefaultRetries;
  cache_dir = default_cache_dir();
  cache_max_size = kDefaultCacheMaxSize;
}

std::string property_name_for_field(const std::string &field) {
  if (field == "model_name") return "model";
  std::string name = field;
  for (auto &c : name)
    if (c == '_') c = '-';
  return name;
}

GParamSpec *src_property(SrcProperty id) {
  return properties[id];
}

bool src_property_is_request_field(guint id) {
  return id >= PROP_MODEL && id <= PROP_SYNC;
}

bool src_settings_set(SrcSettings &s, guint id, const GValue *value) {
  for (const auto &p : kOptionalStringProps) {
    if (p.id != id) continue;
    const char *text = g_value_get_string(value);
    if (text && *text)
      s.request.*p.member = text;
    else
      (s.request.*p.member).reset();
    return true;
  }
  for (const auto &p : kStringListProps) {
    if (p.id != id) continue;
    s.request.*p.member = string_array_items(value);
    return true;
  }
  for (const auto &p : kBoolProps) {
    if (p.id != id) continue;
    s.request.*p.member = g_value_get_boolean(value);
    return true;
  }
  auto string_or = [value](const char *fallback) {
    const char *text = g_value_get_string(value);
    return std::string(text ? text : fallback);
  };
  switch (id) {
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
      s.client.status_path = string_or(kDefaultStatusPath);
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
      s.client.user_agent = string_or(kDefaultUserAgent);
      break;
    case PROP_TASK_ID:
      s.task_id = string_or("");
      break;
    case PROP_CACHE_DIR:
      s.cache_dir = string_or("");
      if (s.cache_dir.empty()) s.cache_dir = default_cache_dir();
      break;
    case PROP_CACHE_MODE:
      s.cache_mode = static_cast<CacheMode>(g_value_get_enum(value));
      break;
    case PROP_CACHE_MAX_SIZE:
      s.cache_max_size = g_value_get_uint64(value);
      break;
    case PROP_IS_LIVE:
      s.is_live = g_value_get_boolean(value);
      break;
    case PROP_LOOP:
      s.loop = g_value_get_boolean(value);
      break;
    case PROP_SHOTS:
      s.shots_path = string_or("");
      break;
    case PROP_MAX_PARALLEL:
      s.max_parallel = g_value_get_uint(value);
      break;
    case PROP_SHOT_SWITCH:
      s.shot_switch = static_cast<ShotSwitch>(g_value_get_enum(value));
      break;
    case PROP_SHOT_FAILURE:
      s.shot_failure = static_cast<ShotFailure>(g_value_get_enum(value));
      break;
    default:
      return false;
  }
  return true;
}

bool src_settings_get(const SrcSettings &s, guint id, GValue *value) {
  for (const auto &p : kOptionalStringProps) {
    if (p.id != id) continue;
    const auto &text = s.request.*p.member;
    g_value_set_string(value, text ? text->c_str() : nullptr);
    return true;
  }
  for (const auto &p : kStringListProps) {
    if (p.id != id) continue;
    string_array_fill(value, s.request.*p.member);
    return true;
  }
  for (const auto &p : kBoolProps) {
    if (p.id != id) continue;
    g_value_set_boolean(value, s.request.*p.member);
    return true;
  }
  switch (id) {
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
    case PROP_CACHE_DIR:
      g_value_set_string(value, s.cache_dir.c_str());
      break;
    case PROP_CACHE_MODE:
      g_value_set_enum(value, static_cast<gint>(s.cache_mode));
      break;
    case PROP_CACHE_MAX_SIZE:
      g_value_set_uint64(value, s.cache_max_size);
      break;
    case PROP_IS_LIVE:
      g_value_set_boolean(value, s.is_live);
      break;
    case PROP_LOOP:
      g_value_set_boolean(value, s.loop);
      break;
    case PROP_SHOTS:
      g_value_set_string(value, s.shots_path.empty() ? nullptr : s.shots_path.c_str());
      break;
    case PROP_MAX_PARALLEL:
      g_value_set_uint(value, s.max_parallel);
      break;
    case PROP_SHOT_SWITCH:
      g_value_set_enum(value, static_cast<gint>(s.shot_switch));
      break;
    case PROP_SHOT_FAILURE:
      g_value_set_enum(value, static_cast<gint>(s.shot_failure));
      break;
    default:
      return false;
  }
  return true;
}

void src_properties_install(GObjectClass *klass) {
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
  properties[PROP_STATUS_PATH] = g_param_spec_string(
      "status-path", "Status path",
      "Path template of the task status endpoint; {task_id} is replaced", kDefaultStatusPath, rw);
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
      "user-agent", "User agent", "User-Agent header of every request", kDefaultUserAgent, rw);
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
  properties[PROP_CACHE_MAX_SIZE] = g_param_spec_uint64(
      "cache-max-size", "Cache maximum size",
      "Bytes the cache may hold (default 2 GiB): after a clip is stored the least recently played "
      "clips are evicted, never one an element plays; 0: unbounded",
      0, G_MAXUINT64, kDefaultCacheMaxSize, rw);
  properties[PROP_IS_LIVE] = g_param_spec_boolean(
      "is-live", "Is live",
      "Act as a live source: no preroll, buffers stamped in running time, so live mixers keep "
      "running while the clip is generated",
      FALSE, rw);
  properties[PROP_LOOP] = g_param_spec_boolean(
      "loop", "Loop", "Start the clip again at its end, forever, with continuous timestamps", FALSE,
      rw);
  properties[PROP_SHOTS] = g_param_spec_string(
      "shots", "Shots",
      "A storyboard: a JSON file holding an array of shots, each an object of the service's "
      "request fields (the request properties are the defaults) with optional \"play\" options "
      "(\"title\", \"continue\"); played as one stream. NULL: the request properties are the "
      "one shot",
      nullptr, rw);
  properties[PROP_MAX_PARALLEL] = g_param_spec_uint(
      "max-parallel", "Maximum parallel shots",
      "How many shots are generated at the same time, ahead of playback, in order", 1, 16, 2, rw);
  properties[PROP_SHOT_SWITCH] = g_param_spec_enum(
      "shot-switch", "Shot switch",
      "Looping (loop=true): when the stream leaves the current shot once the next one is ready",
      shot_switch_get_type(), static_cast<gint>(ShotSwitch::LoopEnd),
      static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                               GST_PARAM_MUTABLE_PLAYING));
  properties[PROP_SHOT_FAILURE] = g_param_spec_enum(
      "shot-failure", "Shot failure",
      "What a failed shot does: skip (a warning, the stream goes on with another shot), error, "
      "or auto (skip when is-live, error otherwise)",
      shot_failure_get_type(), static_cast<gint>(ShotFailure::Auto), rw);
  properties[PROP_RESULT] = g_param_spec_boxed(
      "result", "Result",
      "Every output field of this run's task (state, tokens, cost, model, URLs, error "
      "message...): updated at each state change, then the final output; NULL until the first "
      "answer",
      GST_TYPE_STRUCTURE, static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_properties(klass, N_PROPERTIES, properties);

  gst_type_mark_as_plugin_api(model_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(resolution_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(aspect_ratio_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(cache_mode_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(shot_switch_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(shot_failure_get_type(), static_cast<GstPluginAPIFlags>(0));
}
