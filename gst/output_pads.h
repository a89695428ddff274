// OutputPads: the element's source pads and what leaves them. It makes the "video" and "audio"
// pads for the first file with a demuxer's sticky events in a demuxer's order (stream-start, the
// stream collection, caps, segment, tags; stable stream ids under one prefix), then no-more-pads,
// announces new caps when the frames change format, turns decoded frames into buffers, and runs one
// streaming task per pad fed through PadQueues, so a sink blocked in preroll on one pad never
// starves the other. Live, it holds buffers until PLAYING and hands each one over at its running
// time on the pipeline clock. It knows nothing of files, the job or seek policy.
#pragma once

#include <gst/audio/audio.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>

#include <vector>

#include "clip_decoder.h"
#include "pad_queues.h"
#include "shot_chapters.h"

class OutputPads {
 public:
  // The "video" and "audio" sometimes-pad templates.
  static void add_static_pad_templates(GstElementClass *klass);

  // The pads get `query` and `event` as their query and event functions.
  OutputPads(GstElement *element, GstPadQueryFunction query, GstPadEventFunction event);
  OutputPads(const OutputPads &) = delete;
  OutputPads &operator=(const OutputPads &) = delete;

  // A new run: no pad yet. `title` goes into the tags of each pad. `stream_prefix` is the part
  // every stream id of the run starts with ("<prefix>/video", "<prefix>/audio") and the stream
  // collection's upstream id: the same request must give the same one every time, so consumers
  // that discover a URI first and play it later (GES) find its streams again.
  void start(bool live, const std::string &title, const std::string &stream_prefix);
  // Stopping: every wait (queues, PLAYING, clock) returns at once, and keeps doing so until
  // start().
  void set_stopping();
  // Stops the pad tasks and removes the pads.
  void remove();

  bool live() const { return live_; }
  bool has_pads() const { return video_.pad || audio_.pad; }
  bool has_video() const { return video_.pad != nullptr; }
  bool has_audio() const { return audio_.pad != nullptr; }
  // The stream's pad exists and something downstream takes its data (a GES audio track, say,
  // leaves the video pad unlinked).
  bool consumed(see2ai::StreamKind kind) {
    GstPad *pad = pad_of(kind).pad;
    return pad && gst_pad_is_linked(pad);
  }

  // The first file makes the pads (a stream without a pad in it never gets one later: pads are
  // final after no-more-pads); a later file's other format becomes new caps, in stream order.
  // `segment` and `seqnum` go into the first segment event. Throws MediaError when a format has no
  // GStreamer equivalent.
  void configure(const see2ai::ClipInfo &info, const GstSegment *segment, guint32 seqnum);

  // The frame as a buffer of its pad (new caps first when its format changed), or nullptr when
  // its stream has no pad. Throws MediaError when it does not match its caps.
  GstBuffer *buffer_for(const see2ai::DecodedFrame &frame);
  // `samples` of silence in the audio pad's format.
  GstBuffer *silence(guint64 samples) const;
  // Keeps the first `samples` of an audio buffer (takes it).
  GstBuffer *truncate_audio(GstBuffer *buffer, guint64 samples) const;
  int audio_rate() const { return GST_AUDIO_INFO_RATE(&audio_format_.info); }

  // Queues a buffer for its pad's task, waiting while the pad is far enough ahead. Returns the
  // combined flow of all pads: anything but OK ends decoding.
  GstFlowReturn push(see2ai::StreamKind kind, GstBuffer *buffer);
  // A table of contents, one chapter per entry, to every pad (in order with the buffers).
  // `update`: it replaces one sent before.
  void push_toc(const std::vector<see2ai::Chapter> &chapters, bool update);
  // Takes back the buffers of `kind` not yet pushed, the one its task holds until its running
  // time included (see PadQueues::take_back_buffers): the timestamp of the earliest, or
  // GST_CLOCK_TIME_NONE.
  GstClockTime take_back(see2ai::StreamKind kind);
  // To every pad: serialized events in order with the buffers, others at once (takes `event`).
  // SEGMENT_DONE also becomes the element's SEGMENT_DONE message, posted once every pad has pushed
  // its event: an application that waits for the message (to read what arrived, or to queue the
  // next segment) has had every buffer of the segment by then.
  void push_event(GstEvent *event);

  // Flushing seek: flush-start goes out and the pad tasks pause; flush-stop goes out and they run
  // again. Both carry the seek's seqnum.
  void flush_start(guint32 seqnum);
  void flush_stop(guint32 seqnum);
  // After any seek: what each pad was given no longer bounds how far the others may run.
  void new_segment();

  // Live: PLAYING or not (pausing unschedules the clock waits).
  void set_playing(bool playing);
  // Live: waits for PLAYING; false when stopping.
  bool wait_until_playing();
  // The running time of the pipeline clock now (0 without a clock).
  GstClockTime running_time_now() const;

 private:
  struct Pad {
    GstPad *pad = nullptr;
    size_t queue = 0;             // index in PadQueues
    bool downstream_eos = false;  // pad task only: downstream said EOS, nothing more goes out
    bool was_linked = false;      // pad task only: a push has reached a peer this run
  };
  // What the buffers of one stream are made as now, and the decoder's description it came from.
  template <typename Stream, typename Info>
  struct Format {
    Stream stream;
    Info info;
  };

  template <typename Stream, typename Info>
  void announce(Pad &out, Format<Stream, Info> &format, const Stream &stream);
  GstStream *new_stream(GstStaticPadTemplate *templ, GstCaps *caps) const;
  void add_pad(Pad &out, GstStaticPadTemplate *templ, GstStream *stream, GstCaps *caps,
               const char *codec_tag, const std::string &codec, const std::string &container,
               GstStreamCollection *collection, const GstSegment *segment, guint32 seqnum);
  void follow_frame_format(const see2ai::DecodedFrame &frame);
  Pad &pad_of(see2ai::StreamKind kind) {
    return kind == see2ai::StreamKind::Video ? video_ : audio_;
  }
  void start_tasks();
  void pause_tasks();
  void pad_loop(Pad &out);
  void post_segment_done(GstEvent *event);  // the message for this SEGMENT_DONE event
  GstBuffer *adapt_to_peer(GstBuffer *buffer);
  enum class Hold { Due, TakenBack, Stopping };
  Hold wait_for_running_time(size_t index, GstClockTime running_time);
  void unschedule_clock_waits();

  GstElement *element_;
  GstPadQueryFunction query_;
  GstPadEventFunction event_;
  bool live_ = false;
  std::string title_;
  std::string stream_prefix_;
  guint group_id_ = 0;
  PadQueues queues_;
  Pad video_;
  Pad audio_;
  Format<see2ai::VideoStreamInfo, GstVideoInfo> video_format_{};  // decoding thread
  Format<see2ai::AudioStreamInfo, GstAudioInfo> audio_format_{};
  // The video pad's task: the caps last sent and whether the peer reads GstVideoMeta.
  GstVideoInfo sent_video_info_{};
  bool copy_frames_ = false;
  bool allocation_known_ = false;
  // Pads whose SEGMENT_DONE event is still queued; the last one to push it posts the message. A
  // flush drops the queued events, and the message with them.
  std::atomic<int> segment_done_left_{0};

  // Live: nothing is pushed outside PLAYING.
  std::mutex gate_lock_;
  std::condition_variable gate_cond_;
  bool playing_ = false;
  bool stopping_ = false;
  // Live pad tasks wait for each buffer's running time on the pipeline clock.
  std::mutex clock_lock_;
  // Live: the buffer each pad's task holds until its running time, and the clock wait for it.
  struct ClockWait {
    GstClockTime pts = GST_CLOCK_TIME_NONE;  // held; GST_CLOCK_TIME_NONE: none
    GstClockID id = nullptr;
    bool taken_back = false;
  };
  ClockWait clock_waits_[2];
};
