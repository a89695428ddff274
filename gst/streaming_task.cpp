#include "streaming_task.h"

#include <algorithm>
#include <utility>

GST_DEBUG_CATEGORY_EXTERN(gst_see2ai_video_src_debug);
#define GST_CAT_DEFAULT gst_see2ai_video_src_debug

using see2ai::ClipDecoder;
using see2ai::ClipPlaylist;
using see2ai::ErrorKind;
using see2ai::MediaError;
using see2ai::RunState;
using see2ai::StreamKind;
using see2ai::StreamTimeline;

namespace {

StreamTimeline::Stream timeline_stream(StreamKind kind) {
  return kind == StreamKind::Video ? StreamTimeline::Stream::Video : StreamTimeline::Stream::Audio;
}

}  // namespace

StreamingTask::StreamingTask(GstElement *element, ClipPlaylist &playlist, JobMessages &messages,
                             ShotMessages &shot_messages, OutputPads &pads,
                             see2ai::ShotSequence &shots, std::function<bool()> switch_immediately)
    : element_(element),
      playlist_(playlist),
      messages_(messages),
      shot_messages_(shot_messages),
      pads_(pads),
      shots_(shots),
      switch_immediately_(std::move(switch_immediately)) {
  g_rec_mutex_init(&lock_);
  task_ = gst_task_new([](gpointer data) { static_cast<StreamingTask *>(data)->iteration(); }, this,
                       nullptr);
  gst_task_set_lock(task_, &lock_);
  gst_segment_init(&segment_, GST_FORMAT_TIME);
}

StreamingTask::~StreamingTask() {
  gst_object_unref(task_);
  g_rec_mutex_clear(&lock_);
}

void StreamingTask::prepare(const Run &run) {
  live_ = run.live;
  loop_ = run.loop;
  sequence_ = run.sequence;
  keep_audio_pad_ = run.keep_audio_pad;
}

void StreamingTask::start() {
  sound_format_.reset();
  current_shot_ = 0;
  announce_shot_.reset();
  timeline_.start(loop_ || sequence_);
  gst_segment_init(&segment_, GST_FORMAT_TIME);
  need_segment_ = false;
  segment_seqnum_ = gst_util_seqnum_next();
  pending_seek_.reset();
  pending_shot_seek_.reset();
  seeking_ = false;
  last_seek_seqnum_ = GST_SEQNUM_INVALID;
  last_refused_seqnum_ = GST_SEQNUM_INVALID;
  gst_task_start(task_);
}

void StreamingTask::stop() {
  // The running iteration may pause the task itself (finish()): stop again once it is over.
  gst_task_stop(task_);
  g_rec_mutex_lock(&lock_);
  g_rec_mutex_unlock(&lock_);
  gst_task_stop(task_);
  gst_task_join(task_);
  decoder_.reset();
  // Lengths are remembered by file: a later run's file may be made where this run's was.
  lengths_.clear();
}

void StreamingTask::become_sequence(bool shot_has_sound) {
  if (shot_has_sound) keep_audio_pad_ = true;
  sequence_ = true;
}

// Ends streaming: EOS (or SEGMENT_DONE) downstream on every pad and the task pauses. Errors of
// the job or the media were posted before; a flow error is posted here.
void StreamingTask::finish(GstFlowReturn reason) {
  GST_DEBUG_OBJECT(element_, "pausing task: %s", gst_flow_get_name(reason));
  gst_task_pause(task_);
  if (reason == GST_FLOW_FLUSHING) return;
  if (reason == GST_FLOW_NOT_LINKED || reason < GST_FLOW_EOS) {
    gchar *debug = g_strdup_printf("streaming stopped, reason %s (%d)", gst_flow_get_name(reason),
                                   static_cast<int>(reason));
    messages_.post_error(GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
                         messages_.local_error("Internal data stream error."), ERROR_SITE, debug,
                         reason);
    g_free(debug);
  }
  if (reason == GST_FLOW_EOS && (segment_.flags & GST_SEGMENT_FLAG_SEGMENT)) {
    const gint64 stop = static_cast<gint64>(
        GST_CLOCK_TIME_IS_VALID(segment_.stop) ? segment_.stop : timeline_.position());
    // The pads post the SEGMENT_DONE message once they have pushed everything before it.
    GstEvent *event = gst_event_new_segment_done(GST_FORMAT_TIME, stop);
    gst_event_set_seqnum(event, segment_seqnum_);
    pads_.push_event(event);
    return;
  }
  GstEvent *eos = gst_event_new_eos();
  gst_event_set_seqnum(eos, segment_seqnum_);
  pads_.push_event(eos);
}

// Waits for the file that plays next and opens a decoder on it (the first one makes the pads).
// False when the task paused (stopping, failure, nothing more to play) or an end was asked for.
bool StreamingTask::open_next_file() {
  ClipPlaylist::Next next = playlist_.next();
  switch (next.kind) {
    case ClipPlaylist::Next::Kind::Stopping:
      finish(GST_FLOW_FLUSHING);
      return false;
    case ClipPlaylist::Next::Kind::EndRequested:
      return false;  // the next iteration ends the run
    case ClipPlaylist::Next::Kind::Skipped:
      shot_messages_.of(next.shot).post_shot_skipped(*next.error, ERROR_SITE);
      shot_skipped(next.shot);
      return false;  // the next iteration asks again
    case ClipPlaylist::Next::Kind::Failed:
      shots_.cancel();
      shot_messages_.of(next.shot).post_service_error(*next.error, ERROR_SITE);
      finish(next.error->kind == ErrorKind::Cancelled ? GST_FLOW_FLUSHING : GST_FLOW_EOS);
      return false;
    case ClipPlaylist::Next::Kind::Finished:
      shots_.cancel();
      if (next.nothing_aired)
        messages_.post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
                             messages_.local_error("The task succeeded without a result file"),
                             ERROR_SITE);
      finish(GST_FLOW_EOS);
      return false;
    case ClipPlaylist::Next::Kind::File:
      break;
  }
  decoder_ = std::make_unique<ClipDecoder>(next.file);
  current_shot_ = next.shot;
  see2ai::ClipInfo info = decoder_->info();
  file_has_sound_ = info.audio.has_value();
  if (next.index == 0 && !sequence_) timeline_.set_clip_duration(info.duration_ns);
  if (info.audio) {
    sound_format_ = info.audio;
  } else if (keep_audio_pad_) {
    // A shot without sound keeps the audio pad: silence in the format of the sound around it
    // (the service's: 48 kHz mono), so no new caps are needed.
    if (!sound_format_) {
      see2ai::AudioStreamInfo silence;
      silence.sample_rate = 48000;
      silence.channels = 1;
      silence.channel_mask = AV_CH_FRONT_CENTER;
      silence.sample_format = AV_SAMPLE_FMT_FLTP;
      sound_format_ = silence;
    }
    info.audio = sound_format_;
  }
  const bool first = !pads_.has_pads();
  pads_.configure(info, &segment_, segment_seqnum_);
  const auto &picture = info.video;
  timeline_.start_file(pads_.has_video() && picture ? picture->duration_ns : -1);
  if (next.new_shot) shot_on_air(next.shot, info);
  // The whole table goes before the first buffer: a muxer writes the chapters it has then.
  if (sequence_ && !loop_ && (first || next.new_shot)) pads_.push_toc(shots_.chapters(), !first);
  return true;
}

// A failed shot was passed over: it leaves the table of contents.
void StreamingTask::shot_skipped(size_t shot) {
  shots_.skipped(shot);
  if (!loop_ && pads_.has_pads()) pads_.push_toc(shots_.chapters(), true);
}

// A shot goes on air: its chapter gets its real start and length, and its see2ai-shot message goes
// with its first buffer.
void StreamingTask::shot_on_air(size_t shot, const see2ai::ClipInfo &info) {
  const int64_t length = see2ai::shot_length_ns(info);
  shots_.played(shot, timeline_.file_offset(), length > 0 ? static_cast<uint64_t>(length) : 0);
  announce_shot_ = shot;
}

// The end of a file, or a switch away from it: sound missing under its picture becomes silence,
// so the next file's sound starts where its picture does.
bool StreamingTask::fill_sound_gap() {
  if (!keep_audio_pad_ || !pads_.has_audio()) return true;
  std::optional<StreamTimeline::Gap> gap = timeline_.take_sound_gap();
  if (!gap) return true;
  const guint64 samples =
      gst_util_uint64_scale_round(gap->duration, pads_.audio_rate(), GST_SECOND);
  if (samples == 0) return true;
  GstBuffer *buffer = pads_.silence(samples);
  GST_BUFFER_PTS(buffer) = output_time(gap->pts);
  GST_BUFFER_DURATION(buffer) = gap->duration;
  GstFlowReturn ret = pads_.push(StreamKind::Audio, buffer);
  if (ret == GST_FLOW_OK) return true;
  finish(ret);
  return false;
}

// An immediate switch: the current shot's frames still queued (up to PadQueues::kLimit ahead of
// the clock) give way to the new shot, whose frames start where the last one that went out ended.
void StreamingTask::take_back_queued() {
  for (StreamKind kind : {StreamKind::Video, StreamKind::Audio}) {
    GstClockTime pts = pads_.take_back(kind);
    if (!GST_CLOCK_TIME_IS_VALID(pts)) continue;
    if (pads_.live() && timeline_.has_live_base()) pts -= MIN(pts, timeline_.live_base());
    timeline_.take_back(timeline_stream(kind), pts);
  }
}

// A stream time as a buffer timestamp: live output is shifted to the running time its first buffer
// went out at.
GstClockTime StreamingTask::output_time(GstClockTime pts) const {
  return pads_.live() && timeline_.has_live_base() ? pts + timeline_.live_base() : pts;
}

void StreamingTask::push_frame(const see2ai::DecodedFrame &frame) {
  GstBuffer *buffer = pads_.buffer_for(frame);
  if (!buffer) return;
  const bool video = frame.kind == StreamKind::Video;
  const StreamTimeline::Placement place = timeline_.place(
      timeline_stream(frame.kind), frame.pts_ns, frame.duration_ns, video ? 0 : pads_.audio_rate());
  if (place.drop) {
    gst_buffer_unref(buffer);
    return;
  }
  if (place.keep_samples) buffer = pads_.truncate_audio(buffer, *place.keep_samples);
  GstClockTime pts = place.pts;
  if (pads_.live()) {
    // Live sources push in PLAYING only; the first buffer fixes where the clip sits in running
    // time.
    if (!pads_.wait_until_playing()) {
      gst_buffer_unref(buffer);
      finish(GST_FLOW_FLUSHING);
      return;
    }
    if (!timeline_.has_live_base()) {
      timeline_.set_live_base(pads_.running_time_now());
      GST_DEBUG_OBJECT(element_, "live clip starts at running time %" GST_TIME_FORMAT,
                       GST_TIME_ARGS(timeline_.live_base()));
    }
    pts += timeline_.live_base();
  }
  if (announce_shot_) {
    const size_t shot = *announce_shot_;
    announce_shot_.reset();
    const see2ai::Shot described = shots_.shot(shot);
    const GstClockTime running =
        pads_.live() ? pts : gst_segment_to_running_time(&segment_, GST_FORMAT_TIME, pts);
    shot_messages_.post_on_air(shot, see2ai::shot_title(described, shot),
                               described.request.prompt.value_or(""), running, place.pts);
  }
  GST_BUFFER_PTS(buffer) = pts;
  GST_BUFFER_DURATION(buffer) = place.duration;
  if (frame.discont && (timeline_.file_offset() == 0 || need_segment_))
    GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
  if (need_segment_) {
    need_segment_ = false;
    GstEvent *event = gst_event_new_segment(&segment_);
    gst_event_set_seqnum(event, segment_seqnum_);
    pads_.push_event(event);
  }
  GstFlowReturn ret = pads_.push(frame.kind, buffer);
  if (ret != GST_FLOW_OK) finish(ret);
}

void StreamingTask::iteration() {
  if (playlist_.end_requested()) {
    // Like GstBaseSrc: EOS after what is already queued. Before the clip exists there is nothing
    // to end downstream, so the run stops with an error that says how to resume.
    const bool before_clip = playlist_.state() == RunState::Generating;
    shots_.cancel();
    if (before_clip) messages_.post_stopped_before_clip(ERROR_SITE);
    decoder_.reset();
    finish(GST_FLOW_EOS);
    return;
  }
  try {
    if (pending_seek_) {
      move_decoder(*pending_seek_);
      pending_seek_.reset();
    }
    if (!decoder_ && !open_next_file()) return;
    if (loop_ && switch_immediately_() && playlist_.switch_due()) {
      // A ready shot goes on air at the next frame instead of at the end of this play.
      decoder_.reset();
      take_back_queued();
      if (fill_sound_gap()) playlist_.switch_now();
      return;
    }
    std::optional<see2ai::DecodedFrame> frame = decoder_->next();
    if (!frame) {
      decoder_.reset();
      if (fill_sound_gap() && !playlist_.finish_file()) finish(GST_FLOW_EOS);
    } else if (timeline_.past_stop(timeline_stream(frame->kind), frame->pts_ns)) {
      // Each stream ends at its own stop; the segment ends once every one downstream takes has
      // (decoding on to the stop of a stream nobody takes only delays the end).
      if (timeline_.all_past_stop(pads_.consumed(StreamKind::Video),
                                  pads_.consumed(StreamKind::Audio))) {
        decoder_.reset();
        finish(GST_FLOW_EOS);
      }
    } else {
      const bool picture = frame->kind == StreamKind::Video;
      push_frame(*frame);
      // A file without sound: its silence goes along with its pictures, so a muxer waiting on
      // both pads never waits for the end of the shot.
      if (picture && !file_has_sound_) fill_sound_gap();
    }
  } catch (const MediaError &error) {
    if (playlist_.state() == RunState::Stopped) {
      finish(GST_FLOW_FLUSHING);
      return;
    }
    if (seeking_) return;  // the seek waiting for this iteration goes on from where it puts us
    // A download that failed for good shows up here as a read error: report the job's cause.
    std::optional<see2ai::ServiceError> failure = playlist_.failure_behind_media_error();
    if (playlist_.state() == RunState::Stopped) {
      finish(GST_FLOW_FLUSHING);  // stopped while waiting for the job: not a failure
      return;
    }
    if (sequence_ && playlist_.skip_broken_shot()) {
      // Another shot plays instead: this one's failure is a warning.
      shot_messages_.of(current_shot_)
          .post_shot_skipped(failure ? *failure : messages_.local_error(error.what()), ERROR_SITE);
      shot_skipped(current_shot_);
      decoder_.reset();
      fill_sound_gap();
      return;
    }
    if (failure) {
      shot_messages_.of(current_shot_).post_service_error(*failure, ERROR_SITE);
    } else {
      messages_.post_error(GST_STREAM_ERROR,
                           error.decode ? GST_STREAM_ERROR_DECODE : GST_STREAM_ERROR_DEMUX,
                           messages_.local_error(error.what()), ERROR_SITE);
    }
    finish(GST_FLOW_EOS);
  }
}

// Any time once the clip's single file is being played, whole or still downloading; not live,
// not looping.
bool StreamingTask::seekable() {
  if (live_ || loop_) return false;
  return sequence_ ? !playlist_.ready_shot_files().empty() : playlist_.seekable_file() != nullptr;
}

// Why a seek cannot be served, or nullptr when it can.
const char *StreamingTask::seek_refusal(GstFormat format, gdouble rate) {
  if (format != GST_FORMAT_TIME) return "only seeks in time are supported";
  if (rate != 1.0) return "only a rate of 1.0 is supported";
  if (live_) return "a live source (is-live=true) cannot seek";
  if (loop_) return "a looping clip (loop=true) cannot seek";
  if (sequence_) {
    if (playlist_.ready_shot_files().empty()) return "no shot is on disk yet";
    return nullptr;
  }
  if (!playlist_.seekable_file())
    return "there is nothing to seek in yet, or the task has several result files, which play as "
           "one stream";
  return nullptr;
}

// The clip's length; for a fragmented MP4 opened while it downloaded (its first fragment was all
// that was known then), learnt from the whole file once it is on disk. A sequence's is known once
// every shot is on disk: the sum of their lengths.
gint64 StreamingTask::duration() {
  if (live_ || loop_) return sequence_ ? -1 : timeline_.clip_duration();
  if (sequence_) return lengths_.total(playlist_.ready_shot_files(), playlist_.shot_count());
  gint64 known = timeline_.clip_duration();
  if (known >= 0) return known;
  std::shared_ptr<see2ai::GrowingFile> file = playlist_.seekable_file();
  if (!file || !file->complete()) return -1;
  try {
    known = ClipDecoder(file, 1).info().duration_ns;
  } catch (const MediaError &error) {
    GST_DEBUG_OBJECT(element_, "the clip's length cannot be read: %s", error.what());
    return -1;
  }
  if (known >= 0) timeline_.set_clip_duration(known);
  return known;
}

// On the decoding task: puts the decoder where the accepted seek wants it (the first file again
// when it was played to its end). Waits for bytes still downloading; a later seek or a stop
// interrupts the wait.
void StreamingTask::move_decoder(GstSeekFlags flags) {
  const bool key_unit = (flags & GST_SEEK_FLAG_KEY_UNIT) && !(flags & GST_SEEK_FLAG_ACCURATE);
  // Where the file the decoder seeks in starts in stream time: the shot's start in a sequence, 0
  // for a single clip.
  uint64_t file_start = 0;
  const std::optional<ShotSeek> shot = std::move(pending_shot_seek_);
  pending_shot_seek_.reset();
  if (shot) {
    playlist_.seek_to_shot(shot->shot);
    decoder_ = std::make_unique<ClipDecoder>(shot->file);
    current_shot_ = shot->shot;
    announce_shot_ = shot->shot;
    file_start = shot->start_ns;
  } else if (!decoder_) {
    playlist_.rewind();
    std::shared_ptr<see2ai::GrowingFile> file = playlist_.seekable_file();
    if (!file) throw MediaError(false, "the clip is no longer available");
    decoder_ = std::make_unique<ClipDecoder>(file);
  }
  const auto in_file = static_cast<int64_t>(segment_.start - file_start);
  if (key_unit) {
    // The segment starts at the key frame (at or before the target, the one a decoder can start
    // from), so nothing is decoded only to be dropped.
    const GstClockTime key =
        file_start + static_cast<GstClockTime>(decoder_->seek_to_key_frame(in_file));
    GST_DEBUG_OBJECT(element_, "key-unit seek to %" GST_TIME_FORMAT " starts at %" GST_TIME_FORMAT,
                     GST_TIME_ARGS(segment_.start), GST_TIME_ARGS(key));
    segment_.start = segment_.time = segment_.position = key;
  } else {
    decoder_->seek(in_file, flags & GST_SEEK_FLAG_ACCURATE);
  }
  if (shot)
    timeline_.seek_in_file(file_start, segment_.start, static_cast<int64_t>(shot->length_ns));
  else if (key_unit)
    timeline_.seek(segment_.start);
}

bool StreamingTask::handle_seek(GstEvent *event) {
  gdouble rate;
  GstFormat format;
  GstSeekFlags flags;
  GstSeekType start_type, stop_type;
  gint64 start, stop;
  gst_event_parse_seek(event, &rate, &format, &flags, &start_type, &start, &stop_type, &stop);
  const guint32 seqnum = gst_event_get_seqnum(event);
  if (seqnum == last_refused_seqnum_) return false;  // a copy of a refused seek, up another pad
  const auto refuse = [&](const std::string &why) {
    last_refused_seqnum_ = seqnum;
    GST_ELEMENT_WARNING(element_, CORE, SEEK, ("Cannot seek: %s", why.c_str()), (nullptr));
    return false;
  };
  if (const char *refusal = seek_refusal(format, rate)) return refuse(refusal);
  if (seqnum == last_seek_seqnum_) {
    GST_DEBUG_OBJECT(element_, "seek %u already served (it came up another pad)", seqnum);
    return true;
  }
  // Positions from the end become absolute ones, once the length is known.
  if (start_type == GST_SEEK_TYPE_END || stop_type == GST_SEEK_TYPE_END) {
    const gint64 total = duration();
    if (total < 0) return refuse("a position from the end needs the length, not known yet");
    if (start_type == GST_SEEK_TYPE_END) {
      start = std::max<gint64>(total + start, 0);
      start_type = GST_SEEK_TYPE_SET;
    }
    if (stop_type == GST_SEEK_TYPE_END) {
      stop = std::max<gint64>(total + stop, 0);
      stop_type = GST_SEEK_TYPE_SET;
    }
  }
  if (start_type == GST_SEEK_TYPE_SET && stop_type == GST_SEEK_TYPE_SET && stop >= 0 &&
      stop < start)
    return refuse("the seek's stop is before its start");
  std::optional<ShotSeek> shot_seek;
  if (sequence_) {
    // The shot the start lands in, and every shot before it, must be on disk.
    if (start_type == GST_SEEK_TYPE_NONE)
      return refuse("a seek across shots needs a start position");
    const auto target = static_cast<guint64>(std::max<gint64>(start, 0));
    shot_seek = lengths_.landing(playlist_.ready_shot_files(), target);
    if (!shot_seek) {
      const gint64 total = duration();
      if (total >= 0 && target >= static_cast<guint64>(total))
        return refuse("the position is past the end of the shots");
      gchar *at = g_strdup_printf("%" GST_TIME_FORMAT, GST_TIME_ARGS(target));
      const std::string why = std::string("the shots up to ") + at + " are not on disk yet";
      g_free(at);
      return refuse(why);
    }
  }
  if (last_seek_seqnum_.exchange(seqnum) == seqnum) return true;  // a copy came up another pad
  const bool flush = flags & GST_SEEK_FLAG_FLUSH;
  if (flush) pads_.flush_start(seqnum);
  // The decoding task may be waiting for bytes of the file: it returns, and the seek takes its
  // lock.
  seeking_ = true;
  gst_task_pause(task_);
  playlist_.interrupt_reads();
  g_rec_mutex_lock(&lock_);
  playlist_.resume_reads();
  seeking_ = false;
  gboolean update;
  gst_segment_do_seek(&segment_, rate, format, flags, start_type, start, stop_type, stop, &update);
  segment_.position = segment_.start;
  segment_.time = segment_.start;
  timeline_.set_stop(GST_CLOCK_TIME_IS_VALID(segment_.stop) ? segment_.stop
                                                            : StreamTimeline::kNone);
  if (shot_seek) {
    pending_shot_seek_ = std::move(shot_seek);
    decoder_.reset();
  } else {
    timeline_.seek(segment_.start);
  }
  pending_seek_ = flags;
  if (flush) pads_.flush_stop(seqnum);
  segment_seqnum_ = seqnum;
  need_segment_ = true;
  pads_.new_segment();
  if (flags & GST_SEEK_FLAG_SEGMENT)
    gst_element_post_message(element_,
                             gst_message_new_segment_start(GST_OBJECT(element_), GST_FORMAT_TIME,
                                                           static_cast<gint64>(segment_.start)));
  gst_task_start(task_);
  g_rec_mutex_unlock(&lock_);
  return true;
}
