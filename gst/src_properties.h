// The see2aivideosrc properties: ids, the tables that map request fields onto properties, the enum
// types, the param specs, and reading and writing the settings they describe through GValues.
// What the properties say (SrcSettings) is kept apart from what a run does with them.
#pragma once

#include <gst/gst.h>

#include <string>
#include <vector>

#include "client_config.h"
#include "generation_job.h"
#include "generation_request.h"
#include "storyboard.h"

// When a looping live stream leaves its shot for the next ready one.
enum class ShotSwitch { LoopEnd, Immediate };
// What a failed shot does: auto is skip when live (the channel never goes black) and error
// otherwise (a file or an edit missing a shot is a different film).
enum class ShotFailure { Auto, Skip, Error };

enum SrcProperty : guint {
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
  PROP_CACHE_MAX_SIZE,
  PROP_IS_LIVE,
  PROP_LOOP,
  PROP_SHOTS,
  PROP_MAX_PARALLEL,
  PROP_SHOT_SWITCH,
  PROP_SHOT_FAILURE,
  PROP_RESULT,
  N_PROPERTIES
};

// What the properties say; a run starts from a copy.
struct SrcSettings {
  SrcSettings();  // the defaults, some from this machine (SEE2AI_API_URL, the user's cache dir)
  see2ai::GenerationRequest request;
  see2ai::ClientConfig client;
  std::string task_id;  // set on purpose: attach to this task instead of submitting
  std::string cache_dir;
  see2ai::CacheMode cache_mode = see2ai::CacheMode::Reuse;
  uint64_t cache_max_size = 0;  // bytes; 0: unbounded
  bool is_live = false;
  bool loop = false;
  std::string shots_path;  // a storyboard file; empty: the request properties are the one shot
  unsigned max_parallel = 2;
  ShotSwitch shot_switch = ShotSwitch::LoopEnd;
  ShotFailure shot_failure = ShotFailure::Auto;
  // Shots appended with the append-shot signal, in order: every run plays them after the
  // storyboard's (or the properties') shots.
  std::vector<see2ai::Shot> appended;
};

// Installs every property on the element class (and marks the enum types as plugin API).
void src_properties_install(GObjectClass *klass);
GParamSpec *src_property(SrcProperty id);

// GValue <-> settings for every property but task-id's reading and result (run state). False when
// `id` is not such a property.
bool src_settings_set(SrcSettings &settings, guint id, const GValue *value);
bool src_settings_get(const SrcSettings &settings, guint id, GValue *value);

// True for a property that sets a field of the request (a shot's field in append-shot).
bool src_property_is_request_field(guint id);

// The property that sets a request field of the wire ("video_urls" -> "video-urls").
std::string property_name_for_field(const std::string &field);

// An environment variable, or `fallback` when unset or empty.
std::string env_or(const char *name, const char *fallback);
