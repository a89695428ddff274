// StreamingTask: the element's decoding task and the seeks that move it. It takes the files the
// playlist says play next, decodes them, places each frame on the stream timeline (gapless across
// files and shots, trimmed to a seek's stop) and queues it on the output pads, after the segment a
// seek asked for. Across a sequence of shots it adds what keeps the stream whole: silence where a
// shot has no sound, the table of contents, the see2ai-shot message as a shot goes on air, and an
// immediate switch that takes back frames still queued. The element's glue starts and stops it and
// routes seeks and the duration, position and seeking queries to it.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>

#include "clip_decoder.h"
#include "clip_playlist.h"
#include "job_messages.h"
#include "output_pads.h"
#include "shot_lengths.h"
#include "shot_messages.h"
#include "shot_sequence.h"
#include "stream_timeline.h"

class StreamingTask {
 public:
  // What a run plays.
  struct Run {
    bool live = false;
    bool loop = false;
    // A sequence of shots (a storyboard, or shots appended): shots are trimmed to their picture,
    // the table of contents and shot messages go out, seeks land in a shot.
    bool sequence = false;
    // A sequence where some shot has sound: the audio pad stays, and silence fills shots without.
    bool keep_audio_pad = false;
  };

  // `switch_immediately` says, at each frame of a looping run, whether a ready shot goes on air at
  // once rather than at the end of the play.
  StreamingTask(GstElement *element, see2ai::ClipPlaylist &playlist, JobMessages &messages,
                ShotMessages &shot_messages, OutputPads &pads, see2ai::ShotSequence &shots,
                std::function<bool()> switch_immediately);
  ~StreamingTask();
  StreamingTask(const StreamingTask &) = delete;
  StreamingTask &operator=(const StreamingTask &) = delete;

  // A new run: what it plays, set before its shots begin, so a shot appended from then on finds
  // the run as it is.
  void prepare(const Run &run);
  // Starts the task (the playlist, pads and shots were started before).
  void start();
  // Stops the task and waits for it; the decoder and the shots' lengths go. Every wait of the run
  // was ended before (OutputPads::set_stopping, ClipPlaylist::stop).
  void stop();
  // A shot was appended while running: the run is a sequence from now on.
  void become_sequence(bool shot_has_sound);

  bool live() const { return live_; }
  bool loop() const { return loop_; }
  // Accepted at any time once a file plays (or a sequence's first shot is on disk), or refused
  // with a warning that says why. The seek's seqnum goes on its flush-start, flush-stop and
  // segment (nlecomposition waits for it).
  bool handle_seek(GstEvent *event);
  bool seekable();
  // The stream's length, or -1 while unknown (live and looping runs have none).
  gint64 duration();
  GstClockTime position() const { return timeline_.position(); }

 private:
  // A seek across a sequence lands in this shot's file.
  using ShotSeek = see2ai::ShotLengths::Placed;

  void iteration();
  const char *seek_refusal(GstFormat format, gdouble rate);
  std::optional<ShotSeek> shot_seek_target(const GstEvent *event);
  void move_decoder(GstSeekFlags flags);
  bool open_next_file();
  void shot_on_air(size_t shot, const see2ai::ClipInfo &info);
  void shot_skipped(size_t shot);
  bool fill_sound_gap();
  void take_back_queued();
  GstClockTime output_time(GstClockTime pts) const;
  void push_frame(const see2ai::DecodedFrame &frame);
  void finish(GstFlowReturn reason);

  GstElement *element_;
  see2ai::ClipPlaylist &playlist_;
  JobMessages &messages_;
  ShotMessages &shot_messages_;
  OutputPads &pads_;
  see2ai::ShotSequence &shots_;
  std::function<bool()> switch_immediately_;
  see2ai::ShotLengths lengths_;
  see2ai::StreamTimeline timeline_;

  std::atomic<bool> live_{false};  // read by queries on other threads
  std::atomic<bool> loop_{false};
  std::atomic<bool> sequence_{false};
  std::atomic<bool> keep_audio_pad_{false};

  // The task, and what only it (or a seek holding its lock) touches.
  GstTask *task_;
  GRecMutex lock_;
  std::unique_ptr<see2ai::ClipDecoder> decoder_;
  GstSegment segment_;
  bool need_segment_ = false;
  guint32 segment_seqnum_ = 0;
  // A seek accepted but not yet made: the task moves the decoder, since the bytes it needs may
  // still be downloading (the seeking thread does not wait for them).
  std::optional<GstSeekFlags> pending_seek_;
  std::optional<ShotSeek> pending_shot_seek_;
  // A seek is interrupting the decoder's reads: the error that makes is not a failure.
  std::atomic<bool> seeking_{false};
  // The seqnum of the last seek accepted: a pipeline sends its seek through every sink, so the
  // same seek comes up each pad; it is served once, as a demuxer does.
  std::atomic<guint32> last_seek_seqnum_{GST_SEQNUM_INVALID};
  // The seqnum of the last seek refused: its copies up the other pads are refused without another
  // warning.
  std::atomic<guint32> last_refused_seqnum_{GST_SEQNUM_INVALID};
  bool file_has_sound_ = false;                          // the current file has sound of its own
  std::optional<see2ai::AudioStreamInfo> sound_format_;  // the last sound played
  size_t current_shot_ = 0;
  // The shot whose first buffer is next: its see2ai-shot message goes with that buffer.
  std::optional<size_t> announce_shot_;
};
