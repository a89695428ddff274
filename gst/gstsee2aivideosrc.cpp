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
 */
#include "gstsee2aivideosrc.h"

#include <atomic>
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
#include "src_properties.h"
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

// Threads: the application's (properties, state changes, seeks), the job's (GenerationJob, which
// talks to JobMessages and hands files to the ClipPlaylist), the decoding task's (files to frames
// to the pads' queues), and one streaming task per pad (OutputPads).
// Locks, outermost first: decode_lock (the decoding task's stream lock, also held by a seek while
// it moves the decoder) -> settings_lock -> the private locks of ClipPlaylist, JobMessages,
// OutputPads and PadQueues. Under its own lock none of these calls into another or into the
// element (only into GrowingFile, the clock or reference counts), so they never nest.
struct GstSee2aiVideoSrcPrivate {
  explicit GstSee2aiVideoSrcPrivate(GstSee2aiVideoSrc *owner)
      : src(owner),
        messages(GST_ELEMENT(owner), playlist),
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

  ClipPlaylist playlist;  // before messages, which hands it the job's files
  JobMessages messages;
  OutputPads pads;
  StreamTimeline timeline;

  std::unique_ptr<see2ai::GenerationJob> job;
  std::thread job_thread;

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
  // A seek is interrupting the decoder's reads: the error that makes is not a failure.
  std::atomic<bool> seeking{false};
  // The seqnum of the last seek accepted: a pipeline sends its seek through every sink, so the
  // same seek comes up each pad; it is served once, as a demuxer does.
  std::atomic<guint32> last_seek_seqnum{GST_SEQNUM_INVALID};

  std::atomic<bool> live{false};  // read by queries on other threads
  std::atomic<bool> loop{false};

  bool start();
  void begin_stop();
  void stop();
  void decode_iteration();
  bool handle_seek(GstEvent *event);
  bool seekable();
  gint64 duration();

 private:
  const char *seek_refusal(GstFormat format, gdouble rate);
  void move_decoder(GstSeekFlags flags);
  bool open_next_file();
  void push_frame(const see2ai::DecodedFrame &frame);
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
  messages.start(run.task_id, run.cache_mode != see2ai::CacheMode::Off || !run.task_id.empty());
  if (!messages.check_request(run)) return false;

  live = run.is_live;
  loop = run.loop;
  job = std::make_unique<see2ai::GenerationJob>(run.client, run.request, messages);
  if (!run.task_id.empty()) job->set_attach_task_id(run.task_id);
  if (run.cache_mode != see2ai::CacheMode::Off) {
    job->set_cache(run.cache_dir, run.cache_mode);
    job->set_cache_max_size(run.cache_max_size);
  }
  playlist.start(run.loop);
  // Stream ids from a hash of the URI that recreates this request, as gst_pad_create_stream_id
  // makes them for a URI handler: the same request, the same ids, every run.
  gchar *uri = gst_uri_handler_get_uri(GST_URI_HANDLER(src));
  gchar *stream_prefix = g_compute_checksum_for_string(G_CHECKSUM_SHA256, uri, -1);
  pads.start(run.is_live, run.request.prompt.value_or(""), stream_prefix);
  g_free(stream_prefix);
  g_free(uri);
  timeline.start(run.loop);
  gst_segment_init(&segment, GST_FORMAT_TIME);
  need_segment = false;
  segment_seqnum = gst_util_seqnum_next();
  pending_seek.reset();
  seeking = false;
  last_seek_seqnum = GST_SEQNUM_INVALID;
  job_thread = std::thread([this] { messages.run(*job); });
  gst_task_start(decode_task);
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
  if (job) job->cancel();
  // The running iteration may pause the task itself (finish()): stop again once it is over.
  gst_task_stop(decode_task);
  g_rec_mutex_lock(&decode_lock);
  g_rec_mutex_unlock(&decode_lock);
  gst_task_stop(decode_task);
  gst_task_join(decode_task);
  if (job_thread.joinable()) job_thread.join();
  job.reset();
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
    case ClipPlaylist::Next::Kind::Failed:
      messages.post_service_error(*next.error, ERROR_SITE);
      finish(next.error->kind == ErrorKind::Cancelled ? GST_FLOW_FLUSHING : GST_FLOW_EOS);
      return false;
    case ClipPlaylist::Next::Kind::Finished:
      if (next.index == 0)
        messages.post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
                            messages.local_error("The task succeeded without a result file"),
                            ERROR_SITE);
      finish(GST_FLOW_EOS);
      return false;
    case ClipPlaylist::Next::Kind::File:
      break;
  }
  decoder = std::make_unique<ClipDecoder>(next.file);
  if (next.index == 0) timeline.set_clip_duration(decoder->info().duration_ns);
  pads.configure(decoder->info(), &segment, segment_seqnum);
  const auto &picture = decoder->info().video;
  timeline.start_file(pads.has_video() && picture ? picture->duration_ns : -1);
  return true;
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
    if (playlist.state() == RunState::Generating) {
      if (job) job->cancel();
      messages.post_stopped_before_clip(ERROR_SITE);
    }
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
    std::optional<see2ai::DecodedFrame> frame = decoder->next();
    if (!frame) {
      decoder.reset();
      if (!playlist.finish_file()) finish(GST_FLOW_EOS);
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
      push_frame(*frame);
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
    if (failure) {
      messages.post_service_error(*failure, ERROR_SITE);
    } else {
      messages.post_error(GST_STREAM_ERROR,
                          error.decode ? GST_STREAM_ERROR_DECODE : GST_STREAM_ERROR_DEMUX,
                          messages.local_error(error.what()), ERROR_SITE);
    }
    finish(GST_FLOW_EOS);
  }
}

// Any time once the clip's single file is being played, whole or still downloading; not live,
// not looping.
bool GstSee2aiVideoSrcPrivate::seekable() {
  return !live && !loop && playlist.seekable_file() != nullptr;
}

// Why a seek cannot be served, or nullptr when it can.
const char *GstSee2aiVideoSrcPrivate::seek_refusal(GstFormat format, gdouble rate) {
  if (format != GST_FORMAT_TIME) return "only seeks in time are supported";
  if (rate != 1.0) return "only a rate of 1.0 is supported";
  if (live) return "a live source (is-live=true) cannot seek";
  if (loop) return "a looping clip (loop=true) cannot seek";
  if (!playlist.seekable_file())
    return "there is nothing to seek in yet, or the task has several result files, which play as "
           "one stream";
  return nullptr;
}

// The clip's length; for a fragmented MP4 opened while it downloaded (its first fragment was all
// that was known then), learnt from the whole file once it is on disk.
gint64 GstSee2aiVideoSrcPrivate::duration() {
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
  timeline.seek(segment.start);
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
      // The task this run follows; before a run, the one set to attach to.
      std::string id = priv->messages.task_id();
      if (id.empty()) {
        std::lock_guard<std::mutex> guard(priv->settings_lock);
        id = priv->settings.task_id;
      }
      g_value_set_string(value, id.empty() ? nullptr : id.c_str());
      return;
    }
    case PROP_RESULT:
      g_value_take_boxed(value, priv->messages.dup_result());
      return;
    default:
      break;
  }
  std::lock_guard<std::mutex> guard(priv->settings_lock);
  if (!src_settings_get(priv->settings, prop_id, value))
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
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
