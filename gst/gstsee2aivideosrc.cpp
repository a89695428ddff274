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

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "clip_decoder.h"
#include "clip_playlist.h"
#include "generation_job.h"
#include "growing_file.h"
#include "job_messages.h"
#include "output_pads.h"
#include "see2ai_uri.h"
#include "shot_chapters.h"
#include "shot_fields.h"
#include "shot_messages.h"
#include "shot_runner.h"
#include "src_properties.h"
#include "storyboard.h"
#include "stream_timeline.h"

GST_DEBUG_CATEGORY(gst_see2ai_video_src_debug);
#define GST_CAT_DEFAULT gst_see2ai_video_src_debug

using see2ai::ClipDecoder;
using see2ai::ClipPlaylist;
using see2ai::ErrorKind;
using see2ai::MediaError;
using see2ai::RunState;
using see2ai::StreamKind;
using see2ai::StreamTimeline;

static gboolean src_pad_query(GstPad *pad, GstObject *parent, GstQuery *query);
static gboolean src_pad_event(GstPad *pad, GstObject *parent, GstEvent *event);

// Threads: the application's (properties, state changes, seeks, append-shot), the shot runner's
// (one GenerationJob per shot, which talks to its JobMessages and hands files to the ClipPlaylist),
// the decoding task's (files to frames to the pads' queues), and one streaming task per pad
// (OutputPads).
// Locks, outermost first: decode_lock (the decoding task's stream lock, also held by a seek while
// it moves the decoder) -> settings_lock -> run_lock -> the private locks of ShotRunner,
// ClipPlaylist, ShotMessages, JobMessages, OutputPads and PadQueues. Under its own lock none of
// these calls into another or into the element (only into GrowingFile, the clock or reference
// counts), so they never nest; the one exception is ShotMessages, which reads a shot's JobMessages
// under its lock (and JobMessages calls into nothing under its own).
struct GstSee2aiVideoSrcPrivate {
  explicit GstSee2aiVideoSrcPrivate(GstSee2aiVideoSrc *owner)
      : src(owner),
        messages(GST_ELEMENT(owner), playlist),
        shot_messages(GST_ELEMENT(owner), playlist, messages),
        pads(GST_ELEMENT(owner), src_pad_query, src_pad_event) {
    g_rec_mutex_init(&decode_lock);
    decode_task = gst_task_new(
        [](gpointer data) { static_cast<GstSee2aiVideoSrcPrivate *>(data)->decode_iteration(); },
        this, nullptr);
    gst_task_set_lock(decode_task, &decode_lock);
  }
  ~GstSee2aiVideoSrcPrivate() {
    gst_object_unref(decode_task);
    g_rec_mutex_clear(&decode_lock);
  }

  GstSee2aiVideoSrc *src;

  std::mutex settings_lock;
  SrcSettings settings;

  ClipPlaylist playlist;  // before messages, which hands it the jobs' files
  JobMessages messages;   // shot 0's, and the element's own errors
  ShotMessages shot_messages;
  OutputPads pads;
  StreamTimeline timeline;

  // The run's shots: the runner generates them, the chapters describe them. append-shot adds to
  // both from the application's thread.
  std::mutex run_lock;
  std::unique_ptr<see2ai::ShotRunner> runner;
  see2ai::ShotChapters chapters;

  // The decoding task and what only it (or a seek holding decode_lock) touches.
  GstTask *decode_task;
  GRecMutex decode_lock;
  std::unique_ptr<ClipDecoder> decoder;
  GstSegment segment;
  bool need_segment = false;
  guint32 segment_seqnum = 0;
  // A seek accepted but not yet made: the decoding task moves the decoder, since the bytes it
  // needs may still be downloading (the seeking thread does not wait for them).
  std::optional<GstSeekFlags> pending_seek;
  // A seek across a sequence lands in this shot's file, which starts at `offset` in stream time.
  struct ShotSeek {
    size_t shot = 0;
    uint64_t offset = 0;
    int64_t length = -1;
    std::shared_ptr<see2ai::GrowingFile> file;
  };
  std::optional<ShotSeek> pending_shot_seek;
  // A seek is interrupting the decoder's reads: the error that makes is not a failure.
  std::atomic<bool> seeking{false};
  // The seqnum of the last seek accepted: a pipeline sends its seek through every sink, so the
  // same seek comes up each pad; it is served once, as a demuxer does.
  std::atomic<guint32> last_seek_seqnum{GST_SEQNUM_INVALID};

  // The length of each whole shot file asked about this run (reading a file's index for every
  // duration query would cost a demuxer open each time).
  std::map<const see2ai::GrowingFile *, int64_t> shot_lengths;  // run_lock

  std::atomic<bool> live{false};  // read by queries on other threads
  std::atomic<bool> loop{false};

  // The run plays a sequence of shots (a storyboard, or shots appended): shots are trimmed to
  // their picture and, when any has sound, the audio pad stays and silence fills shots without.
  // Set at the start; a shot appended while it runs makes any run a sequence.
  std::atomic<bool> sequence{false};
  std::atomic<bool> keep_audio_pad{false};
  bool file_has_sound = false;  // decoding task: the current file has sound of its own
  std::optional<see2ai::AudioStreamInfo> sound_format;  // the last sound played (decoding task)
  size_t current_shot = 0;                              // decoding task
  // The shot whose first buffer is next: its see2ai-shot message goes with that buffer.
  std::optional<size_t> announce_shot;

  bool start();
  bool append_shot(const GstStructure *fields);
  bool add_appended_shot(const GstStructure *fields, std::string *who, std::string *refusal);
  void begin_stop();
  void stop();
  void decode_iteration();
  bool handle_seek(GstEvent *event);
  bool seekable();
  gint64 duration();
  // The lengths of the ready shots of a sequence from the first on (see
  // ClipPlaylist::ready_shot_files), with their files.
  std::vector<std::pair<std::shared_ptr<see2ai::GrowingFile>, int64_t>> ready_shots();

 private:
  const char *seek_refusal(GstFormat format, gdouble rate);
  void move_decoder(GstSeekFlags flags);
  std::optional<std::vector<see2ai::Shot>> shots_of(const SrcSettings &run);
  std::vector<see2ai::Chapter> chapters_snapshot();
  bool open_next_file();
  void shot_on_air(size_t shot, const see2ai::ClipInfo &info);
  void shot_skipped(size_t shot);
  void stop_generating();
  bool fill_sound_gap();
  void take_back_queued();
  GstClockTime output_time(GstClockTime pts);
  void push_frame(const see2ai::DecodedFrame &frame);
  bool switch_immediately();
  void finish(GstFlowReturn reason);
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
  std::optional<std::vector<see2ai::Shot>> shots = shots_of(run);
  if (!shots) return false;

  live = run.is_live;
  loop = run.loop;
  sequence = shots->size() > 1 || !run.shots_path.empty();
  bool any_sound = false;
  for (const auto &shot : *shots) any_sound |= shot.request.generate_audio;
  keep_audio_pad = sequence && any_sound;
  sound_format.reset();
  current_shot = 0;
  announce_shot.reset();
  messages.start(run.task_id, resumable, sequence);
  shot_messages.start(resumable);
  const ShotFailure failure = run.shot_failure == ShotFailure::Auto
                                  ? (run.is_live ? ShotFailure::Skip : ShotFailure::Error)
                                  : run.shot_failure;
  playlist.start(run.loop, failure == ShotFailure::Skip ? see2ai::ShotFailurePolicy::Skip
                                                        : see2ai::ShotFailurePolicy::End);
  see2ai::ShotRunner::Settings runner_settings;
  runner_settings.client = run.client;
  if (run.cache_mode != see2ai::CacheMode::Off) {
    runner_settings.cache_dir = run.cache_dir;
    runner_settings.cache_mode = run.cache_mode;
    runner_settings.cache_max_size = run.cache_max_size;
  }
  runner_settings.attach_task_id = run.task_id;
  runner_settings.max_parallel = run.max_parallel;
  {
    std::lock_guard<std::mutex> guard(run_lock);
    runner = std::make_unique<see2ai::ShotRunner>(runner_settings, shot_messages);
    chapters.clear();
    shot_lengths.clear();
    for (auto &shot : *shots) {
      const size_t index = playlist.add_shot();
      chapters.plan(index, see2ai::shot_title(shot, index),
                    see2ai::planned_shot_length_ns(shot.request.duration));
      runner->add(std::move(shot));
    }
  }
  // Stream ids from a hash of the URI that recreates this request (and the storyboard that
  // makes its shots), as gst_pad_create_stream_id makes them for a URI handler: the same request,
  // the same ids, every run.
  gchar *uri = gst_uri_handler_get_uri(GST_URI_HANDLER(src));
  const std::string identity = std::string(uri) + (sequence ? "\n" + run.shots_path : "");
  gchar *stream_prefix = g_compute_checksum_for_string(G_CHECKSUM_SHA256, identity.c_str(), -1);
  pads.start(run.is_live, run.request.prompt.value_or(""), stream_prefix);
  g_free(stream_prefix);
  g_free(uri);
  timeline.start(run.loop || sequence);
  gst_segment_init(&segment, GST_FORMAT_TIME);
  need_segment = false;
  segment_seqnum = gst_util_seqnum_next();
  pending_seek.reset();
  pending_shot_seek.reset();
  seeking = false;
  last_seek_seqnum = GST_SEQNUM_INVALID;
  runner->start();
  gst_task_start(decode_task);
  return true;
}

// The run's shots: the storyboard's, or the request properties' one, then those appended. Posts
// the error that names the shot and the field (nothing is submitted) and returns nothing when one
// cannot be generated.
std::optional<std::vector<see2ai::Shot>> GstSee2aiVideoSrcPrivate::shots_of(
    const SrcSettings &run) {
  std::vector<see2ai::Shot> shots;
  const auto refuse = [this](const std::string &text) {
    messages.post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, messages.local_error(text),
                        ERROR_SITE, "nothing was submitted");
    return std::nullopt;
  };
  if (run.shots_path.empty()) {
    if (!messages.check_request(run)) return std::nullopt;
    shots.emplace_back();
    shots.back().request = run.request;
  } else {
    if (!run.task_id.empty())
      return refuse("\"task-id\" attaches one clip: it cannot be combined with \"shots\"");
    if (!messages.check_key(run)) return std::nullopt;
    try {
      shots = see2ai::load_storyboard(run.shots_path, run.request);
    } catch (const see2ai::ShotError &error) {
      return refuse("Invalid shot in \"shots\" (" + run.shots_path + "), " + error.what());
    } catch (const std::invalid_argument &error) {
      return refuse(std::string("Invalid property \"shots\": ") + error.what());
    }
  }
  for (const auto &shot : run.appended) {
    try {
      see2ai::check_shot(shot, shots.size());
    } catch (const see2ai::ShotError &error) {
      return refuse(std::string("Invalid appended shot, ") + error.what());
    }
    shots.push_back(shot);
  }
  return shots;
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
                                                 std::string *refusal_out) {
  std::lock_guard<std::mutex> settings_guard(settings_lock);
  std::lock_guard<std::mutex> run_guard(run_lock);
  // Running, a shot is named by its index in the sequence; before a run (whose storyboard is read
  // at its start) by its place among the appended shots.
  const size_t index = runner ? runner->size() : 1 + settings.appended.size();
  *who = runner ? "Shot " + std::to_string(index)
                : "Appended shot " + std::to_string(settings.appended.size());
  std::string &refusal = *refusal_out;
  if (runner && !loop && playlist.state() == RunState::Ended) {
    refusal = "the stream has ended";
    return false;
  }
  std::optional<see2ai::Shot> made =
      shot_from_fields(G_OBJECT_GET_CLASS(src), settings, fields, index, &refusal);
  if (!made) return false;
  see2ai::Shot shot = std::move(*made);
  settings.appended.push_back(shot);
  if (runner) {
    // The run becomes a sequence: the audio pad stays through shots without sound.
    if (shot.request.generate_audio) keep_audio_pad = true;
    sequence = true;
    const size_t added = playlist.add_shot();
    chapters.plan(added, see2ai::shot_title(shot, added),
                  see2ai::planned_shot_length_ns(shot.request.duration));
    runner->add(std::move(shot));
    GST_INFO_OBJECT(src, "shot %zu appended to the running sequence", added);
  }
  return true;
}

// Every wait of the run returns: the queues flush, PLAYING is no longer awaited, the files'
// readers and the playlist's waits wake up.
void GstSee2aiVideoSrcPrivate::begin_stop() {
  pads.set_stopping();
  playlist.stop();
}

void GstSee2aiVideoSrcPrivate::stop() {
  begin_stop();
  if (runner) runner->cancel();
  // The running iteration may pause the task itself (finish()): stop again once it is over.
  gst_task_stop(decode_task);
  g_rec_mutex_lock(&decode_lock);
  g_rec_mutex_unlock(&decode_lock);
  gst_task_stop(decode_task);
  gst_task_join(decode_task);
  {
    std::unique_ptr<see2ai::ShotRunner> done;
    {
      std::lock_guard<std::mutex> guard(run_lock);
      done = std::move(runner);
    }
    if (done) done->stop();
  }
  shot_messages.clear();
  decoder.reset();
  playlist.forget_files();
  pads.remove();
}

// Ends streaming: EOS (or SEGMENT_DONE) downstream on every pad and the task pauses. Errors of
// the job or the media were posted before; a flow error is posted here.
void GstSee2aiVideoSrcPrivate::finish(GstFlowReturn reason) {
  GST_DEBUG_OBJECT(src, "pausing task: %s", gst_flow_get_name(reason));
  gst_task_pause(decode_task);
  if (reason == GST_FLOW_FLUSHING) return;
  if (reason == GST_FLOW_NOT_LINKED || reason < GST_FLOW_EOS) {
    gchar *debug = g_strdup_printf("streaming stopped, reason %s (%d)", gst_flow_get_name(reason),
                                   static_cast<int>(reason));
    messages.post_error(GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
                        messages.local_error("Internal data stream error."), ERROR_SITE, debug,
                        reason);
    g_free(debug);
  }
  if (reason == GST_FLOW_EOS && (segment.flags & GST_SEGMENT_FLAG_SEGMENT)) {
    const gint64 stop = static_cast<gint64>(
        GST_CLOCK_TIME_IS_VALID(segment.stop) ? segment.stop : timeline.position());
    // The pads post the SEGMENT_DONE message once they have pushed everything before it.
    GstEvent *event = gst_event_new_segment_done(GST_FORMAT_TIME, stop);
    gst_event_set_seqnum(event, segment_seqnum);
    pads.push_event(event);
    return;
  }
  GstEvent *eos = gst_event_new_eos();
  gst_event_set_seqnum(eos, segment_seqnum);
  pads.push_event(eos);
}

// Waits for the file that plays next and opens a decoder on it (the first one makes the pads).
// False when the task paused (stopping, failure, nothing more to play) or an end was asked for.
bool GstSee2aiVideoSrcPrivate::open_next_file() {
  ClipPlaylist::Next next = playlist.next();
  switch (next.kind) {
    case ClipPlaylist::Next::Kind::Stopping:
      finish(GST_FLOW_FLUSHING);
      return false;
    case ClipPlaylist::Next::Kind::EndRequested:
      return false;  // the next iteration ends the run
    case ClipPlaylist::Next::Kind::Skipped:
      shot_messages.of(next.shot).post_shot_skipped(*next.error, ERROR_SITE);
      shot_skipped(next.shot);
      return false;  // the next iteration asks again
    case ClipPlaylist::Next::Kind::Failed:
      stop_generating();
      shot_messages.of(next.shot).post_service_error(*next.error, ERROR_SITE);
      finish(next.error->kind == ErrorKind::Cancelled ? GST_FLOW_FLUSHING : GST_FLOW_EOS);
      return false;
    case ClipPlaylist::Next::Kind::Finished:
      stop_generating();
      if (next.nothing_aired)
        messages.post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
                            messages.local_error("The task succeeded without a result file"),
                            ERROR_SITE);
      finish(GST_FLOW_EOS);
      return false;
    case ClipPlaylist::Next::Kind::File:
      break;
  }
  decoder = std::make_unique<ClipDecoder>(next.file);
  current_shot = next.shot;
  see2ai::ClipInfo info = decoder->info();
  file_has_sound = info.audio.has_value();
  if (next.index == 0 && !sequence) timeline.set_clip_duration(info.duration_ns);
  if (info.audio) {
    sound_format = info.audio;
  } else if (keep_audio_pad) {
    // A shot without sound keeps the audio pad: silence in the format of the sound around it
    // (the service's: 48 kHz mono), so no new caps are needed.
    if (!sound_format) {
      see2ai::AudioStreamInfo silence;
      silence.sample_rate = 48000;
      silence.channels = 1;
      silence.channel_mask = AV_CH_FRONT_CENTER;
      silence.sample_format = AV_SAMPLE_FMT_FLTP;
      sound_format = silence;
    }
    info.audio = sound_format;
  }
  const bool first = !pads.has_pads();
  pads.configure(info, &segment, segment_seqnum);
  const auto &picture = info.video;
  timeline.start_file(pads.has_video() && picture ? picture->duration_ns : -1);
  if (next.new_shot) shot_on_air(next.shot, info);
  // The whole table goes before the first buffer: a muxer writes the chapters it has then.
  if (sequence && !loop && (first || next.new_shot)) pads.push_toc(chapters_snapshot(), !first);
  return true;
}

// A failed shot was passed over: it leaves the table of contents.
void GstSee2aiVideoSrcPrivate::shot_skipped(size_t shot) {
  {
    std::lock_guard<std::mutex> guard(run_lock);
    chapters.skipped(shot);
  }
  if (!loop && pads.has_pads()) pads.push_toc(chapters_snapshot(), true);
}

// The run ends (an end asked for, a failure, or the last shot played): no shot starts anymore.
// Jobs under way are cancelled; their journals let a later run resume them unpaid.
void GstSee2aiVideoSrcPrivate::stop_generating() {
  std::lock_guard<std::mutex> guard(run_lock);
  if (runner) runner->cancel();
}

// A shot goes on air: its chapter gets its real start and length, and its see2ai-shot message goes
// with its first buffer.
void GstSee2aiVideoSrcPrivate::shot_on_air(size_t shot, const see2ai::ClipInfo &info) {
  const int64_t length =
      info.video && info.video->duration_ns > 0 ? info.video->duration_ns : info.duration_ns;
  {
    std::lock_guard<std::mutex> guard(run_lock);
    chapters.played(shot, timeline.file_offset(), length > 0 ? static_cast<uint64_t>(length) : 0);
  }
  announce_shot = shot;
}

std::vector<see2ai::Chapter> GstSee2aiVideoSrcPrivate::chapters_snapshot() {
  std::lock_guard<std::mutex> guard(run_lock);
  return chapters.chapters();
}

// The end of a file, or a switch away from it: sound missing under its picture becomes silence,
// so the next file's sound starts where its picture does.
bool GstSee2aiVideoSrcPrivate::fill_sound_gap() {
  if (!keep_audio_pad || !pads.has_audio()) return true;
  std::optional<StreamTimeline::Gap> gap = timeline.take_sound_gap();
  if (!gap) return true;
  const guint64 samples = gst_util_uint64_scale_round(gap->duration, pads.audio_rate(), GST_SECOND);
  if (samples == 0) return true;
  GstBuffer *buffer = pads.silence(samples);
  GST_BUFFER_PTS(buffer) = output_time(gap->pts);
  GST_BUFFER_DURATION(buffer) = gap->duration;
  GstFlowReturn ret = pads.push(StreamKind::Audio, buffer);
  if (ret == GST_FLOW_OK) return true;
  finish(ret);
  return false;
}

// An immediate switch: the current shot's frames still queued (up to PadQueues::kLimit ahead of
// the clock) give way to the new shot, whose frames start where the last one that went out ended.
void GstSee2aiVideoSrcPrivate::take_back_queued() {
  for (StreamKind kind : {StreamKind::Video, StreamKind::Audio}) {
    GstClockTime pts = pads.take_back(kind);
    if (!GST_CLOCK_TIME_IS_VALID(pts)) continue;
    if (pads.live() && timeline.has_live_base()) pts -= MIN(pts, timeline.live_base());
    timeline.take_back(
        kind == StreamKind::Video ? StreamTimeline::Stream::Video : StreamTimeline::Stream::Audio,
        pts);
  }
}

// A stream time as a buffer timestamp: live output is shifted to the running time its first buffer
// went out at.
GstClockTime GstSee2aiVideoSrcPrivate::output_time(GstClockTime pts) {
  return pads.live() && timeline.has_live_base() ? pts + timeline.live_base() : pts;
}

void GstSee2aiVideoSrcPrivate::push_frame(const see2ai::DecodedFrame &frame) {
  GstBuffer *buffer = pads.buffer_for(frame);
  if (!buffer) return;
  const bool video = frame.kind == StreamKind::Video;
  const StreamTimeline::Placement place =
      timeline.place(video ? StreamTimeline::Stream::Video : StreamTimeline::Stream::Audio,
                     frame.pts_ns, frame.duration_ns, video ? 0 : pads.audio_rate());
  if (place.drop) {
    gst_buffer_unref(buffer);
    return;
  }
  if (place.keep_samples) buffer = pads.truncate_audio(buffer, *place.keep_samples);
  GstClockTime pts = place.pts;
  if (pads.live()) {
    // Live sources push in PLAYING only; the first buffer fixes where the clip sits in running
    // time.
    if (!pads.wait_until_playing()) {
      gst_buffer_unref(buffer);
      finish(GST_FLOW_FLUSHING);
      return;
    }
    if (!timeline.has_live_base()) {
      timeline.set_live_base(pads.running_time_now());
      GST_DEBUG_OBJECT(src, "live clip starts at running time %" GST_TIME_FORMAT,
                       GST_TIME_ARGS(timeline.live_base()));
    }
    pts += timeline.live_base();
  }
  if (announce_shot) {
    const size_t shot = *announce_shot;
    announce_shot.reset();
    see2ai::Shot described;
    {
      std::lock_guard<std::mutex> guard(run_lock);
      if (runner) described = runner->shot(shot);
    }
    const GstClockTime running =
        pads.live() ? pts : gst_segment_to_running_time(&segment, GST_FORMAT_TIME, pts);
    shot_messages.post_on_air(shot, see2ai::shot_title(described, shot),
                              described.request.prompt.value_or(""), running, place.pts);
  }
  GST_BUFFER_PTS(buffer) = pts;
  GST_BUFFER_DURATION(buffer) = place.duration;
  if (frame.discont && (timeline.file_offset() == 0 || need_segment))
    GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
  if (need_segment) {
    need_segment = false;
    GstEvent *event = gst_event_new_segment(&segment);
    gst_event_set_seqnum(event, segment_seqnum);
    pads.push_event(event);
  }
  GstFlowReturn ret = pads.push(frame.kind, buffer);
  if (ret != GST_FLOW_OK) finish(ret);
}

void GstSee2aiVideoSrcPrivate::decode_iteration() {
  if (playlist.end_requested()) {
    // Like GstBaseSrc: EOS after what is already queued. Before the clip exists there is nothing
    // to end downstream, so the run stops with an error that says how to resume.
    const bool before_clip = playlist.state() == RunState::Generating;
    stop_generating();
    if (before_clip) messages.post_stopped_before_clip(ERROR_SITE);
    decoder.reset();
    finish(GST_FLOW_EOS);
    return;
  }
  try {
    if (pending_seek) {
      move_decoder(*pending_seek);
      pending_seek.reset();
    }
    if (!decoder && !open_next_file()) return;
    if (loop && switch_immediately() && playlist.switch_due()) {
      // A ready shot goes on air at the next frame instead of at the end of this play.
      decoder.reset();
      take_back_queued();
      if (fill_sound_gap()) playlist.switch_now();
      return;
    }
    std::optional<see2ai::DecodedFrame> frame = decoder->next();
    if (!frame) {
      decoder.reset();
      if (fill_sound_gap() && !playlist.finish_file()) finish(GST_FLOW_EOS);
    } else if (timeline.past_stop(frame->kind == StreamKind::Video ? StreamTimeline::Stream::Video
                                                                   : StreamTimeline::Stream::Audio,
                                  frame->pts_ns)) {
      // Each stream ends at its own stop; the segment ends once every one downstream takes has
      // (decoding on to the stop of a stream nobody takes only delays the end).
      if (timeline.all_past_stop(pads.consumed(StreamKind::Video),
                                 pads.consumed(StreamKind::Audio))) {
        decoder.reset();
        finish(GST_FLOW_EOS);
      }
    } else {
      const bool picture = frame->kind == StreamKind::Video;
      push_frame(*frame);
      // A file without sound: its silence goes along with its pictures, so a muxer waiting on
      // both pads never waits for the end of the shot.
      if (picture && !file_has_sound) fill_sound_gap();
    }
  } catch (const MediaError &error) {
    if (playlist.state() == RunState::Stopped) {
      finish(GST_FLOW_FLUSHING);
      return;
    }
    if (seeking) return;  // the seek waiting for this iteration goes on from where it puts us
    // A download that failed for good shows up here as a read error: report the job's cause.
    std::optional<see2ai::ServiceError> failure = playlist.failure_behind_media_error();
    if (playlist.state() == RunState::Stopped) {
      finish(GST_FLOW_FLUSHING);  // stopped while waiting for the job: not a failure
      return;
    }
    if (sequence && playlist.skip_broken_shot()) {
      // Another shot plays instead: this one's failure is a warning.
      shot_messages.of(current_shot)
          .post_shot_skipped(failure ? *failure : messages.local_error(error.what()), ERROR_SITE);
      shot_skipped(current_shot);
      decoder.reset();
      fill_sound_gap();
      return;
    }
    if (failure) {
      shot_messages.of(current_shot).post_service_error(*failure, ERROR_SITE);
    } else {
      messages.post_error(GST_STREAM_ERROR,
                          error.decode ? GST_STREAM_ERROR_DECODE : GST_STREAM_ERROR_DEMUX,
                          messages.local_error(error.what()), ERROR_SITE);
    }
    finish(GST_FLOW_EOS);
  }
}

bool GstSee2aiVideoSrcPrivate::switch_immediately() {
  std::lock_guard<std::mutex> guard(settings_lock);
  return settings.shot_switch == ShotSwitch::Immediate;
}

// Any time once the clip's single file is being played, whole or still downloading; not live,
// not looping.
bool GstSee2aiVideoSrcPrivate::seekable() {
  if (live || loop) return false;
  return sequence ? !playlist.ready_shot_files().empty() : playlist.seekable_file() != nullptr;
}

std::vector<std::pair<std::shared_ptr<see2ai::GrowingFile>, int64_t>>
GstSee2aiVideoSrcPrivate::ready_shots() {
  std::vector<std::pair<std::shared_ptr<see2ai::GrowingFile>, int64_t>> shots;
  for (auto &file : playlist.ready_shot_files()) {
    int64_t length = -1;
    {
      std::lock_guard<std::mutex> guard(run_lock);
      auto known = shot_lengths.find(file.get());
      if (known != shot_lengths.end()) length = known->second;
    }
    if (length < 0) {
      try {
        const see2ai::ClipInfo info = ClipDecoder(file, 1).info();
        length =
            info.video && info.video->duration_ns > 0 ? info.video->duration_ns : info.duration_ns;
      } catch (const MediaError &error) {
        GST_DEBUG_OBJECT(src, "a shot's length cannot be read: %s", error.what());
        break;
      }
      if (length <= 0) break;
      std::lock_guard<std::mutex> guard(run_lock);
      shot_lengths[file.get()] = length;
    }
    shots.emplace_back(std::move(file), length);
  }
  return shots;
}

// Why a seek cannot be served, or nullptr when it can.
const char *GstSee2aiVideoSrcPrivate::seek_refusal(GstFormat format, gdouble rate) {
  if (format != GST_FORMAT_TIME) return "only seeks in time are supported";
  if (rate != 1.0) return "only a rate of 1.0 is supported";
  if (live) return "a live source (is-live=true) cannot seek";
  if (loop) return "a looping clip (loop=true) cannot seek";
  if (sequence) {
    if (playlist.ready_shot_files().empty()) return "no shot is on disk yet";
    return nullptr;
  }
  if (!playlist.seekable_file())
    return "there is nothing to seek in yet, or the task has several result files, which play as "
           "one stream";
  return nullptr;
}

// The clip's length; for a fragmented MP4 opened while it downloaded (its first fragment was all
// that was known then), learnt from the whole file once it is on disk.
gint64 GstSee2aiVideoSrcPrivate::duration() {
  if (sequence) {
    // Known once every shot is on disk: the sum of their lengths.
    if (live || loop) return -1;
    const auto shots = ready_shots();
    if (shots.empty() || shots.size() != playlist.shot_count()) return -1;
    gint64 total = 0;
    for (const auto &shot : shots) total += shot.second;
    return total;
  }
  gint64 known = timeline.clip_duration();
  if (known >= 0 || live || loop) return known;
  std::shared_ptr<see2ai::GrowingFile> file = playlist.seekable_file();
  if (!file || !file->complete()) return -1;
  try {
    known = ClipDecoder(file, 1).info().duration_ns;
  } catch (const MediaError &error) {
    GST_DEBUG_OBJECT(src, "the clip's length cannot be read: %s", error.what());
    return -1;
  }
  if (known >= 0) timeline.set_clip_duration(known);
  return known;
}

// On the decoding task: puts the decoder where the accepted seek wants it (the first file again
// when it was played to its end). Waits for bytes still downloading; a later seek or a stop
// interrupts the wait.
void GstSee2aiVideoSrcPrivate::move_decoder(GstSeekFlags flags) {
  if (pending_shot_seek) {
    const ShotSeek target = *pending_shot_seek;
    pending_shot_seek.reset();
    playlist.seek_to_shot(target.shot);
    decoder = std::make_unique<ClipDecoder>(target.file);
    current_shot = target.shot;
    announce_shot = target.shot;
    const auto in_file = static_cast<int64_t>(segment.start - target.offset);
    if ((flags & GST_SEEK_FLAG_KEY_UNIT) && !(flags & GST_SEEK_FLAG_ACCURATE)) {
      const auto key = static_cast<GstClockTime>(decoder->seek_to_key_frame(in_file));
      segment.start = segment.time = segment.position = target.offset + key;
    } else {
      decoder->seek(in_file, flags & GST_SEEK_FLAG_ACCURATE);
    }
    timeline.seek_in_file(target.offset, segment.start, target.length);
    return;
  }
  if (!decoder) {
    playlist.rewind();
    std::shared_ptr<see2ai::GrowingFile> file = playlist.seekable_file();
    if (!file) throw MediaError(false, "the clip is no longer available");
    decoder = std::make_unique<ClipDecoder>(file);
  }
  if ((flags & GST_SEEK_FLAG_KEY_UNIT) && !(flags & GST_SEEK_FLAG_ACCURATE)) {
    // The segment starts at the key frame (at or before the target, the one a decoder can start
    // from), so nothing is decoded only to be dropped.
    const auto key =
        static_cast<GstClockTime>(decoder->seek_to_key_frame(static_cast<int64_t>(segment.start)));
    GST_DEBUG_OBJECT(src, "key-unit seek to %" GST_TIME_FORMAT " starts at %" GST_TIME_FORMAT,
                     GST_TIME_ARGS(segment.start), GST_TIME_ARGS(key));
    segment.start = segment.time = segment.position = key;
    timeline.seek(key);
  } else {
    decoder->seek(static_cast<int64_t>(segment.start), flags & GST_SEEK_FLAG_ACCURATE);
  }
}

// Accepted at any time once the clip plays, or refused with a warning that says why. The seek's
// seqnum goes on its flush-start, flush-stop and segment (nlecomposition waits for it).
bool GstSee2aiVideoSrcPrivate::handle_seek(GstEvent *event) {
  gdouble rate;
  GstFormat format;
  GstSeekFlags flags;
  GstSeekType start_type, stop_type;
  gint64 start, stop;
  gst_event_parse_seek(event, &rate, &format, &flags, &start_type, &start, &stop_type, &stop);
  if (const char *refusal = seek_refusal(format, rate)) {
    GST_ELEMENT_WARNING(src, CORE, SEEK, ("Cannot seek: %s", refusal), (nullptr));
    return false;
  }
  const bool flush = flags & GST_SEEK_FLAG_FLUSH;
  const guint32 seqnum = gst_event_get_seqnum(event);
  if (last_seek_seqnum.exchange(seqnum) == seqnum) {
    GST_DEBUG_OBJECT(src, "seek %u already served (it came up another pad)", seqnum);
    return true;
  }
  std::optional<ShotSeek> shot_seek;
  if (sequence) {
    // The shot the seek lands in: every shot up to it must be on disk.
    if (start_type != GST_SEEK_TYPE_SET) {
      GST_ELEMENT_WARNING(src, CORE, SEEK,
                          ("Cannot seek: a seek across shots needs a start position (SET)"),
                          (nullptr));
      return false;
    }
    const guint64 target = start > 0 ? static_cast<guint64>(start) : 0;
    uint64_t offset = 0;
    size_t index = 0;
    for (auto &shot : ready_shots()) {
      const auto length = static_cast<uint64_t>(shot.second);
      if (target < offset + length) {
        shot_seek = ShotSeek{index, offset, shot.second, std::move(shot.first)};
        break;
      }
      offset += length;
      ++index;
    }
    if (!shot_seek) {
      GST_ELEMENT_WARNING(src, CORE, SEEK,
                          ("Cannot seek: the shots up to %" GST_TIME_FORMAT " are not on disk yet",
                           GST_TIME_ARGS(target)),
                          (nullptr));
      return false;
    }
  }
  if (flush) pads.flush_start(seqnum);
  // The decoding task may be waiting for bytes of the file: it returns, and the seek takes its
  // lock.
  seeking = true;
  gst_task_pause(decode_task);
  playlist.interrupt_reads();
  g_rec_mutex_lock(&decode_lock);
  playlist.resume_reads();
  seeking = false;
  gboolean update;
  gst_segment_do_seek(&segment, rate, format, flags, start_type, start, stop_type, stop, &update);
  segment.position = segment.start;
  segment.time = segment.start;
  timeline.set_stop(GST_CLOCK_TIME_IS_VALID(segment.stop) ? segment.stop : StreamTimeline::kNone);
  if (shot_seek) {
    pending_shot_seek = shot_seek;
    decoder.reset();
  } else {
    timeline.seek(segment.start);
  }
  pending_seek = flags;
  if (flush) pads.flush_stop(seqnum);
  segment_seqnum = seqnum;
  need_segment = true;
  pads.new_segment();
  if (flags & GST_SEEK_FLAG_SEGMENT)
    gst_element_post_message(GST_ELEMENT(src),
                             gst_message_new_segment_start(GST_OBJECT(src), GST_FORMAT_TIME,
                                                           static_cast<gint64>(segment.start)));
  gst_task_start(decode_task);
  g_rec_mutex_unlock(&decode_lock);
  return true;
}

static gboolean src_pad_query(GstPad *pad, GstObject *parent, GstQuery *query) {
  GstSee2aiVideoSrcPrivate *priv = GST_SEE2AI_VIDEO_SRC(parent)->priv;
  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_DURATION: {
      GstFormat format;
      gst_query_parse_duration(query, &format, nullptr);
      if (format != GST_FORMAT_TIME) break;
      const gint64 duration = priv->duration();
      if (duration < 0 || priv->loop) return FALSE;
      gst_query_set_duration(query, GST_FORMAT_TIME, duration);
      return TRUE;
    }
    case GST_QUERY_POSITION: {
      GstFormat format;
      gst_query_parse_position(query, &format, nullptr);
      if (format != GST_FORMAT_TIME) break;
      gst_query_set_position(query, GST_FORMAT_TIME,
                             static_cast<gint64>(priv->timeline.position()));
      return TRUE;
    }
    case GST_QUERY_SEEKING: {
      GstFormat format;
      gst_query_parse_seeking(query, &format, nullptr, nullptr, nullptr);
      if (format != GST_FORMAT_TIME) break;
      gst_query_set_seeking(query, GST_FORMAT_TIME, priv->seekable(), 0, priv->duration());
      return TRUE;
    }
    case GST_QUERY_LATENCY:
      // Live: a frame's worth (24 fps); the clip is decoded ahead, so no more is needed.
      gst_query_set_latency(query, priv->live, priv->live ? GST_SECOND / 24 : 0,
                            GST_CLOCK_TIME_NONE);
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
    const gboolean ok = GST_SEE2AI_VIDEO_SRC(parent)->priv->handle_seek(event);
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
      const gboolean ok = priv->handle_seek(event);
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
  if (ret == GST_STATE_CHANGE_FAILURE) return ret;
  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_PLAYING:
      priv->pads.set_playing(true);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      priv->stop();
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      if (priv->live) ret = GST_STATE_CHANGE_NO_PREROLL;
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
