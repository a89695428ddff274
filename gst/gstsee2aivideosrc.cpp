/**
 * SECTION:element-see2aivideosrc
 * @title: see2aivideosrc
 *
 * Generates a clip with the SEE2AI video generation service (Seedance 2.0) from a prompt and
 * optional reference images, frames, videos and audio, and plays it as raw video on its "video"
 * pad and raw audio on its "audio" pad. The request is submitted at READY→PAUSED (progress
 * messages follow the task), the MP4 is decoded while it downloads, and finished clips are cached:
 * the same request plays again for free, and a run that died resumes its task instead of paying
 * again. As a URI handler it takes see2ai://generate?prompt=... and see2ai://task/<id>.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 see2aivideosrc prompt="a red fox" ! videoconvert ! autovideosink
 * ]| Generates a 5 s clip and shows its picture; the audio pad may stay unlinked.
 * |[
 * gst-launch-1.0 see2aivideosrc prompt="a red fox" name=s \
 *   s.video ! videoconvert ! autovideosink  s.audio ! audioconvert ! autoaudiosink
 * ]| Picture and sound; no queue is needed, each pad has its own streaming thread.
 *
 * ## Shots
 * A storyboard (the shots property: a JSON array of requests in the service's field names) plays
 * as one gapless stream: shots are generated ahead (max-parallel at a time), each goes on air with
 * a see2ai-shot element message, a table of contents has one chapter per shot, and the
 * append-shot action signal adds shots in any state. With is-live=true loop=true the current shot
 * loops until the next is ready (shot-switch), and a failed shot never takes the channel off air
 * (shot-failure).
 * |[
 * gst-launch-1.0 -e see2aivideosrc shots=storyboard.json name=s \
 *   s.video ! videoconvert ! x264enc ! queue ! matroskamux name=m ! filesink location=film.mkv \
 *   s.audio ! audioconvert ! opusenc ! queue ! m.
 * ]| Renders a storyboard to a Matroska file with one chapter per shot.
 */
#include "gstsee2aivideosrc.h"

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "clip_playlist.h"
#include "job_messages.h"
#include "output_pads.h"
#include "run_shots.h"
#include "see2ai_uri.h"
#include "shot_fields.h"
#include "shot_messages.h"
#include "shot_sequence.h"
#include "src_properties.h"
#include "storyboard.h"
#include "streaming_task.h"

GST_DEBUG_CATEGORY(gst_see2ai_video_src_debug);
#define GST_CAT_DEFAULT gst_see2ai_video_src_debug

using see2ai::RunState;

static gboolean src_pad_query(GstPad *pad, GstObject *parent, GstQuery *query);
static gboolean src_pad_event(GstPad *pad, GstObject *parent, GstEvent *event);

// Threads: the application's (properties, state changes, seeks, append-shot), the shot runner's
// (one GenerationJob per shot, which talks to its JobMessages and hands files to the ClipPlaylist),
// the decoding task's (StreamingTask: files to frames to the pads' queues), and one streaming task
// per pad (OutputPads).
// Locks, outermost first: the decoding task's stream lock (also held by a seek while it moves the
// decoder) -> settings_lock -> the private locks of ShotSequence, ShotRunner, ClipPlaylist,
// ShotLengths, ShotMessages, JobMessages, OutputPads and PadQueues. Under its own lock none of
// these calls into another or into the element (only into GrowingFile, the clock or reference
// counts), so they never nest; the exceptions are ShotSequence, which hands a shot to the playlist
// and the runner under its lock, ShotMessages, which reads a shot's JobMessages under its lock
// (and JobMessages calls into nothing under its own), and OutputPads, which empties a pad's
// PadQueues queue under its clock lock.
struct GstSee2aiVideoSrcPrivate {
  explicit GstSee2aiVideoSrcPrivate(GstSee2aiVideoSrc *owner)
      : src(owner),
        messages(GST_ELEMENT(owner), playlist),
        shot_messages(GST_ELEMENT(owner), playlist, messages),
        pads(GST_ELEMENT(owner), src_pad_query, src_pad_event),
        shots(playlist),
        streaming(GST_ELEMENT(owner), playlist, messages, shot_messages, pads, shots,
                  [this] { return switch_immediately(); }) {}

  GstSee2aiVideoSrc *src;

  std::mutex settings_lock;
  SrcSettings settings;

  see2ai::ClipPlaylist playlist;  // before messages, which hands it the jobs' files
  JobMessages messages;           // shot 0's, and the element's own errors
  ShotMessages shot_messages;
  OutputPads pads;
  see2ai::ShotSequence shots;
  StreamingTask streaming;

  bool start();
  bool append_shot(const GstStructure *fields);
  void begin_stop();
  void stop();

 private:
  bool add_appended_shot(const GstStructure *fields, std::string *who, std::string *refusal);
  bool switch_immediately();
};

struct _GstSee2aiVideoSrc {
  GstElement parent;
  GstSee2aiVideoSrcPrivate *priv;
};

G_DEFINE_TYPE_WITH_CODE(GstSee2aiVideoSrc, gst_see2ai_video_src, GST_TYPE_ELEMENT,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_URI_HANDLER, see2ai_uri_handler_init))
GST_ELEMENT_REGISTER_DEFINE(see2aivideosrc, "see2aivideosrc", GST_RANK_NONE,
                            GST_TYPE_SEE2AI_VIDEO_SRC)

gchar *gst_see2ai_video_src_dup_attach_task_id(GstSee2aiVideoSrc *self) {
  std::lock_guard<std::mutex> guard(self->priv->settings_lock);
  const std::string &id = self->priv->settings.task_id;
  return id.empty() ? nullptr : g_strdup(id.c_str());
}

bool GstSee2aiVideoSrcPrivate::start() {
  SrcSettings run;
  {
    std::lock_guard<std::mutex> guard(settings_lock);
    run = settings;
  }
  if (run.client.api_key.empty()) run.client.api_key = env_or("SEE2AI_API_KEY", "");
  // The HTTP exchanges in the debug log at LOG level, headers only and the key hidden.
  if (gst_debug_category_get_threshold(GST_CAT_DEFAULT) >= GST_LEVEL_LOG) {
    run.client.http_log = [this](char direction, const std::string &line) {
      GST_LOG_OBJECT(src, "HTTP %c %s", direction, line.c_str());
    };
  }
  const bool resumable = run.cache_mode != see2ai::CacheMode::Off || !run.task_id.empty();
  messages.start(run.task_id, resumable);
  std::optional<std::vector<see2ai::Shot>> run_list = run_shots(run, messages);
  if (!run_list) return false;

  StreamingTask::Run plays;
  plays.live = run.is_live;
  plays.loop = run.loop;
  plays.sequence = run_list->size() > 1 || !run.shots_path.empty();
  for (const auto &shot : *run_list)
    plays.keep_audio_pad |= plays.sequence && shot.request.generate_audio;
  messages.start(run.task_id, resumable, plays.sequence);
  shot_messages.start(resumable);
  streaming.prepare(plays);
  playlist.start(run.loop, shot_failure_policy(run));
  shots.begin(shot_runner_settings(run), shot_messages, std::move(*run_list));
  // Stream ids from a hash of the URI that recreates this request (and the storyboard that
  // makes its shots), as gst_pad_create_stream_id makes them for a URI handler: the same request,
  // the same ids, every run.
  gchar *uri = gst_uri_handler_get_uri(GST_URI_HANDLER(src));
  const std::string identity = std::string(uri) + (plays.sequence ? "\n" + run.shots_path : "");
  gchar *stream_prefix = g_compute_checksum_for_string(G_CHECKSUM_SHA256, identity.c_str(), -1);
  pads.start(run.is_live, run.request.prompt.value_or(""), stream_prefix);
  g_free(stream_prefix);
  g_free(uri);
  shots.start();
  streaming.start();
  return true;
}

// A shot from the application, in any state: its fields are the request properties' names (and
// "title", "continue" for how it plays), the properties are its defaults. Refused with a warning
// naming the shot and the field, before anything is submitted for it; accepted, every later run
// plays it too, and a running one generates it ahead and plays it in its turn.
bool GstSee2aiVideoSrcPrivate::append_shot(const GstStructure *fields) {
  std::string refusal;
  std::string who;
  if (!add_appended_shot(fields, &who, &refusal)) {
    // Posted with no lock held: a bus sync handler may read properties.
    GST_ELEMENT_WARNING(src, RESOURCE, SETTINGS, ("%s refused: %s", who.c_str(), refusal.c_str()),
                        ("nothing was submitted for it"));
    return false;
  }
  return true;
}

bool GstSee2aiVideoSrcPrivate::add_appended_shot(const GstStructure *fields, std::string *who,
                                                 std::string *refusal) {
  std::lock_guard<std::mutex> settings_guard(settings_lock);
  // Running, a shot is named by its index in the sequence; before a run (whose storyboard is read
  // at its start) by its place among the appended shots.
  const std::optional<size_t> running = shots.next_index();
  const size_t index = running ? *running : 1 + settings.appended.size();
  *who = running ? "Shot " + std::to_string(index)
                 : "Appended shot " + std::to_string(settings.appended.size());
  if (running && !streaming.loop() && playlist.state() == RunState::Ended) {
    *refusal = "the stream has ended";
    return false;
  }
  std::optional<see2ai::Shot> made =
      shot_from_fields(G_OBJECT_GET_CLASS(src), settings, fields, index, refusal);
  if (!made) return false;
  settings.appended.push_back(*made);
  if (running) {
    // The run becomes a sequence: the audio pad stays through shots without sound.
    streaming.become_sequence(made->request.generate_audio);
    if (std::optional<size_t> added = shots.append(std::move(*made)))
      GST_INFO_OBJECT(src, "shot %zu appended to the running sequence", *added);
  }
  return true;
}

bool GstSee2aiVideoSrcPrivate::switch_immediately() {
  std::lock_guard<std::mutex> guard(settings_lock);
  return settings.shot_switch == ShotSwitch::Immediate;
}

// Every wait of the run returns: the queues flush, PLAYING is no longer awaited, the files'
// readers and the playlist's waits wake up.
void GstSee2aiVideoSrcPrivate::begin_stop() {
  pads.set_stopping();
  playlist.stop();
}

void GstSee2aiVideoSrcPrivate::stop() {
  begin_stop();
  shots.cancel();
  streaming.stop();
  shots.end();
  shot_messages.clear();
  playlist.forget_files();
  pads.remove();
}

static gboolean src_pad_query(GstPad *pad, GstObject *parent, GstQuery *query) {
  GstSee2aiVideoSrcPrivate *priv = GST_SEE2AI_VIDEO_SRC(parent)->priv;
  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_DURATION: {
      GstFormat format;
      gst_query_parse_duration(query, &format, nullptr);
      if (format != GST_FORMAT_TIME) break;
      const gint64 duration = priv->streaming.duration();
      if (duration < 0 || priv->streaming.loop()) return FALSE;
      gst_query_set_duration(query, GST_FORMAT_TIME, duration);
      return TRUE;
    }
    case GST_QUERY_POSITION: {
      GstFormat format;
      gst_query_parse_position(query, &format, nullptr);
      if (format != GST_FORMAT_TIME) break;
      gst_query_set_position(query, GST_FORMAT_TIME,
                             static_cast<gint64>(priv->streaming.position()));
      return TRUE;
    }
    case GST_QUERY_SEEKING: {
      GstFormat format;
      gst_query_parse_seeking(query, &format, nullptr, nullptr, nullptr);
      if (format != GST_FORMAT_TIME) break;
      gst_query_set_seeking(query, GST_FORMAT_TIME, priv->streaming.seekable(), 0,
                            priv->streaming.duration());
      return TRUE;
    }
    case GST_QUERY_LATENCY:
      // Live: a frame's worth (24 fps); the clip is decoded ahead, so no more is needed.
      gst_query_set_latency(query, priv->streaming.live(),
                            priv->streaming.live() ? GST_SECOND / 24 : 0, GST_CLOCK_TIME_NONE);
      return TRUE;
    case GST_QUERY_URI: {
      gchar *uri = gst_uri_handler_get_uri(GST_URI_HANDLER(parent));
      gst_query_set_uri(query, uri);
      g_free(uri);
      return TRUE;
    }
    case GST_QUERY_SELECTABLE:
      // decodebin3 selects the streams itself (playbin3's select-streams never reaches a source
      // in GStreamer 1.22), so every stream keeps flowing and a deselected one is dropped there.
      gst_query_set_selectable(query, FALSE);
      return TRUE;
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
  if (GST_EVENT_TYPE(event) == GST_EVENT_SEEK) {
    const gboolean ok = GST_SEE2AI_VIDEO_SRC(parent)->priv->streaming.handle_seek(event);
    gst_event_unref(event);
    return ok;
  }
  return gst_pad_event_default(pad, parent, event);
}

static gboolean gst_see2ai_video_src_send_event(GstElement *element, GstEvent *event) {
  GstSee2aiVideoSrcPrivate *priv = GST_SEE2AI_VIDEO_SRC(element)->priv;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_EOS:
      GST_INFO_OBJECT(element, "EOS requested (%s)",
                      see2ai::run_state_name(priv->playlist.state()));
      gst_event_unref(event);
      priv->playlist.request_end();
      return TRUE;
    case GST_EVENT_SEEK: {
      const gboolean ok = priv->streaming.handle_seek(event);
      gst_event_unref(event);
      return ok;
    }
    default:
      return GST_ELEMENT_CLASS(gst_see2ai_video_src_parent_class)->send_event(element, event);
  }
}

static GstStateChangeReturn gst_see2ai_video_src_change_state(GstElement *element,
                                                              GstStateChange transition) {
  GstSee2aiVideoSrcPrivate *priv = GST_SEE2AI_VIDEO_SRC(element)->priv;
  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!priv->start()) return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      priv->begin_stop();
      priv->pads.set_playing(false);
      break;
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      priv->pads.set_playing(false);
      break;
    default:
      break;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_see2ai_video_src_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    // The run started goes again: its jobs and tasks must not outlive the failed change.
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) priv->stop();
    return ret;
  }
  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_PLAYING:
      priv->pads.set_playing(true);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      priv->stop();
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      if (priv->streaming.live()) ret = GST_STATE_CHANGE_NO_PREROLL;
      break;
    default:
      break;
  }
  return ret;
}

static void gst_see2ai_video_src_set_property(GObject *object, guint prop_id, const GValue *value,
                                              GParamSpec *pspec) {
  GstSee2aiVideoSrcPrivate *priv = GST_SEE2AI_VIDEO_SRC(object)->priv;
  std::lock_guard<std::mutex> guard(priv->settings_lock);
  if (!src_settings_set(priv->settings, prop_id, value))
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
}

static void gst_see2ai_video_src_get_property(GObject *object, guint prop_id, GValue *value,
                                              GParamSpec *pspec) {
  GstSee2aiVideoSrcPrivate *priv = GST_SEE2AI_VIDEO_SRC(object)->priv;
  switch (prop_id) {
    case PROP_TASK_ID: {
      // The task of the shot on air; before a run, the one set to attach to.
      std::string id = priv->shot_messages.on_air_task_id();
      if (id.empty()) {
        std::lock_guard<std::mutex> guard(priv->settings_lock);
        id = priv->settings.task_id;
      }
      g_value_set_string(value, id.empty() ? nullptr : id.c_str());
      return;
    }
    case PROP_RESULT:
      g_value_take_boxed(value, priv->shot_messages.dup_on_air_result());
      return;
    default:
      break;
  }
  std::lock_guard<std::mutex> guard(priv->settings_lock);
  if (!src_settings_get(priv->settings, prop_id, value))
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
}

static gboolean gst_see2ai_video_src_append_shot(GstSee2aiVideoSrc *self, GstStructure *fields) {
  return fields && self->priv->append_shot(fields);
}

static void gst_see2ai_video_src_finalize(GObject *object) {
  delete GST_SEE2AI_VIDEO_SRC(object)->priv;
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

  src_properties_install(gobject_class);
  /**
   * GstSee2aiVideoSrc::append-shot:
   * @src: the element
   * @shot: the shot: fields named as the request properties ("prompt", "duration",
   *   "generate-audio", ...), plus "title" (string) and "continue" (boolean: the previous shot's
   *   clip becomes a reference video); the properties give every field left out
   *
   * Adds a shot at the end of the sequence, in any state. A running element generates it ahead
   * and plays it in its turn (live and looping: it goes on air once ready).
   *
   * Returns: %TRUE when accepted; %FALSE, with a warning naming the shot and the field, when
   * refused (nothing is submitted for it)
   */
  g_signal_new_class_handler("append-shot", G_TYPE_FROM_CLASS(klass),
                             static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                             G_CALLBACK(gst_see2ai_video_src_append_shot), nullptr, nullptr,
                             nullptr, G_TYPE_BOOLEAN, 1, GST_TYPE_STRUCTURE);
  OutputPads::add_static_pad_templates(element_class);
  gst_element_class_set_static_metadata(
      element_class, "SEE2AI video generation source", "Source/Video/Audio",
      "Generates a clip from a prompt (and optional reference images, frames, videos, audio) with "
      "the SEE2AI video generation service (Seedance 2.0) and plays it as raw video and audio. "
      "Every submitted request is billed in tokens; finished clips are cached and resumed, never "
      "paid twice",
      "see2ai-gst developers");
  GST_DEBUG_CATEGORY_INIT(gst_see2ai_video_src_debug, "see2aivideosrc", 0,
                          "SEE2AI video generation source");
}
