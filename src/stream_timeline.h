// StreamTimeline: where each decoded frame sits in the element's stream time. Result files and
// loops follow one another with no gap and no overlap; a loop trims the sound of each play to its
// picture; a seek restarts the time at its target; a segment stop ends each stream at its own
// first frame past it, and cuts the sound at it, sample-exactly; the position is
// the end of what was stamped last; live output is shifted by the running time of the first
// buffer. Plain arithmetic in nanoseconds, driven by the decoding thread; position() and
// clip_duration() may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

namespace see2ai {

class StreamTimeline {
 public:
  static constexpr uint64_t kNone = UINT64_MAX;

  enum class Stream { Video, Audio };

  // Where a frame goes: at `pts` for `duration`, all in stream time. `keep_samples` is set when
  // only the first samples of a sound frame belong to this play (the rest is after its picture or
  // the segment stop).
  struct Placement {
    bool drop = false;  // the frame lies wholly after the picture of this play: not pushed
    uint64_t pts = 0;
    uint64_t duration = 0;
    std::optional<uint64_t> keep_samples;
  };

  // A new run. `trim_sound`: the sound of each play (a loop's, a shot's) is trimmed to its
  // picture.
  void start(bool trim_sound);

  // A result file (or the next loop) starts playing: its frames follow the later of the two
  // streams' ends, so both stay in step. `picture_ns`: the length of the file's picture track
  // when it has one that will be played (-1 otherwise); with looping, the sound stops there.
  void start_file(int64_t picture_ns);
  // The clip's length, from the first file opened (-1 while unknown).
  void set_clip_duration(int64_t duration_ns);
  int64_t clip_duration() const { return clip_duration_; }

  // Places a frame of `stream` whose time in its file is `pts_ns` (negative counts as 0). For
  // sound, `rate` gives the number of samples to keep when the frame is trimmed.
  Placement place(Stream stream, int64_t pts_ns, int64_t duration_ns, int rate = 0);
  // Where the current file starts in stream time (0 for the first play of the first file).
  uint64_t file_offset() const { return offset_; }

  // A seek to `start_ns` in the (single) file: time restarts there.
  void seek(uint64_t start_ns);
  // A seek to `start_ns` (stream time) inside a file that starts at `file_offset` in stream time
  // (a shot of a sequence) and whose picture lasts `picture_ns` (-1: unknown).
  void seek_in_file(uint64_t file_offset, uint64_t start_ns, int64_t picture_ns);
  // The segment stop in stream time (kNone: none); frames at or after it are not played. Every
  // stream plays again until its own first frame past it.
  void set_stop(uint64_t stop_ns);
  // True for a frame of `stream` (at `pts_ns` in its file) at or after the stop: that stream is
  // done, its frame is not played. The other stream goes on to its own stop (H.264 still holds
  // pictures before the stop when the sound gets there).
  bool past_stop(Stream stream, int64_t pts_ns);
  // Every stream that plays (`video`, `audio`: which ones do) has passed the stop.
  bool all_past_stop(bool video, bool audio) const;

  // Frames of `stream` from `end_ns` (stream time) on were taken back before they went out: that
  // stream ends there again.
  void take_back(Stream stream, uint64_t end_ns);

  // Sound missing under the picture so far (a shot without sound among shots with sound, or sound
  // shorter than its picture): from the end of the sound to the end of the picture, in stream
  // time. Counted as filled (with silence) once taken.
  struct Gap {
    uint64_t pts = 0;
    uint64_t duration = 0;
  };
  std::optional<Gap> take_sound_gap();

  // End of the latest frame placed, in stream time.
  uint64_t position() const { return position_; }

  // Live output: stream time 0 is at this running time (fixed once, by the first buffer).
  bool has_live_base() const { return live_base_ != kNone; }
  void set_live_base(uint64_t running_time) { live_base_ = running_time; }
  uint64_t live_base() const { return live_base_; }

 private:
  bool loop_ = false;
  uint64_t offset_ = 0;
  uint64_t video_end_ = 0;
  uint64_t audio_end_ = 0;
  uint64_t picture_end_ = kNone;
  uint64_t stop_ = kNone;
  bool video_past_stop_ = false;
  bool audio_past_stop_ = false;
  uint64_t live_base_ = kNone;
  std::atomic<uint64_t> position_{0};
  std::atomic<int64_t> clip_duration_{-1};
};

}  // namespace see2ai
