// ClipDecoder: demuxes and decodes an MP4 (or any libavformat input) from a GrowingFile with a
// custom AVIOContext, yielding reference-counted AVFrames one at a time (bounded memory).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

extern "C" {
#include <libavutil/frame.h>
#include <libavutil/pixfmt.h>
#include <libavutil/samplefmt.h>
}

namespace see2ai {

class GrowingFile;

struct VideoStreamInfo {
  int width = 0;
  int height = 0;
  AVPixelFormat pixel_format = AV_PIX_FMT_NONE;
  int fps_num = 0, fps_den = 1;  // frame rate
  int par_num = 1, par_den = 1;  // pixel aspect ratio
  int color_range = 0;           // AVColorRange
  int color_space = 2;           // AVColorSpace
  int color_primaries = 2;       // AVColorPrimaries
  int color_trc = 2;             // AVColorTransferCharacteristic
  std::string codec_name;        // e.g. "h264"
  int64_t duration_ns = -1;      // of the track, -1 when unknown
};

struct AudioStreamInfo {
  int sample_rate = 0;
  int channels = 0;
  uint64_t channel_mask = 0;  // AV_CH_* bits, 0 when unknown
  AVSampleFormat sample_format = AV_SAMPLE_FMT_NONE;
  std::string codec_name;  // e.g. "aac"
};

struct ClipInfo {
  std::optional<VideoStreamInfo> video;
  std::optional<AudioStreamInfo> audio;
  int64_t duration_ns = -1;  // -1 when unknown
  std::string container;     // libavformat's long name, e.g. "QuickTime / MOV" for MP4
};

enum class StreamKind { Video, Audio };

// One decoded frame. `frame` is owned (av_frame_free); pts/duration in nanoseconds from clip start.
struct DecodedFrame {
  StreamKind kind = StreamKind::Video;
  AVFrame *frame = nullptr;
  int64_t pts_ns = 0;
  int64_t duration_ns = 0;
  bool discont = false;  // first frame after open or seek
  DecodedFrame() = default;
  DecodedFrame(const DecodedFrame &) = delete;
  DecodedFrame &operator=(const DecodedFrame &) = delete;
  DecodedFrame(DecodedFrame &&other) noexcept;
  DecodedFrame &operator=(DecodedFrame &&other) noexcept;
  ~DecodedFrame();
};

// Thrown for bad media. `decode` false: a demux problem (container), true: a codec problem.
struct MediaError : std::runtime_error {
  MediaError(bool decode, const std::string &message)
      : std::runtime_error(message), decode(decode) {}
  bool decode;
};

// One thread drives a ClipDecoder; any thread may cancel its waits through source->cancel().
class ClipDecoder {
 public:
  // Opens and probes the input (waits for bytes as needed: with the moov at the end, for the whole
  // file). Throws MediaError; returns nothing useful after source->cancel() (throws MediaError
  // with message "cancelled", see cancelled()). `threads`: decoder threads, 0 = one per core.
  explicit ClipDecoder(std::shared_ptr<GrowingFile> source, int threads = 0);
  ~ClipDecoder();
  ClipDecoder(const ClipDecoder &) = delete;
  ClipDecoder &operator=(const ClipDecoder &) = delete;

  const ClipInfo &info() const { return info_; }

  // Next decoded frame in decode order across both streams (interleaved as the file is), or
  // nothing at the end of both streams. Throws MediaError.
  std::optional<DecodedFrame> next();

  // Seeks both streams to `position_ns`. `accurate`: output starts with the picture on screen at
  // the target (pts <= target < pts + duration) and with sound cut to the sample at the target;
  // else both start at the key frame at or before it. Also the way to go on after a cancel:
  // source->reset_cancel(), then seek(). A target past what is downloaded makes next() wait.
  void seek(int64_t position_ns, bool accurate);
  // Seeks to the key frame at or before `position_ns` and returns its time: both streams start
  // there (sound cut to it), as a KEY_UNIT seek wants. The target itself when no key frame is
  // found ahead.
  int64_t seek_to_key_frame(int64_t position_ns);

  bool cancelled() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ClipInfo info_;
};

}  // namespace see2ai
