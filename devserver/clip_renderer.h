// ClipRenderer: encodes real MP4 files with libav (H.264 yuv420p + optional AAC), deterministic
// from a seed text. The dev server renders results with it; tests make their fixtures with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace see2ai::dev {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // RGB24, width*3 bytes per row, no padding
};

// Decodes PNG/JPEG/any image libav reads. Throws std::runtime_error naming the cause.
RgbImage decode_image(const std::vector<uint8_t> &bytes);
// Encodes a PNG with libav's png encoder.
std::vector<uint8_t> encode_png(const RgbImage &image);
RgbImage solid_image(int width, int height, uint8_t r, uint8_t g, uint8_t b);

enum class AudioTrack { None, Mono, Stereo };
enum class Mp4Layout { Faststart, MoovAtEnd, Fragmented };

struct RenderSpec {
  int width = 1280;  // even, at most 8192 (H.264 4:2:0 needs even sizes)
  int height = 720;
  int fps_num = 24;
  int fps_den = 1;
  double duration_s = 5.0;
  AudioTrack audio = AudioTrack::Mono;
  int sample_rate = 48000;
  Mp4Layout layout = Mp4Layout::Faststart;
  std::string seed_text;                // picture and tone are a function of this
  std::optional<RgbImage> first_frame;  // stretched (swscale) to width x height
  std::optional<RgbImage> last_frame;
};

// Writes the clip to `path` (via a temp file and rename). Throws std::runtime_error.
// round(duration_s * fps) frames; first_frame is frame 0 and last_frame the final frame (a
// one-frame clip shows first_frame). Audio: round(duration_s * sample_rate) samples of a tone;
// Faststart and MoovAtEnd hide the AAC encoder delay with an edit list, Fragmented plays it as
// the track's first samples and shortens the tone to match, so every track lasts duration_s.
void render_clip(const RenderSpec &spec, const std::string &path);

// Frame size for a request: short side 480/720, even dimensions; "adaptive" follows the
// first frame's aspect when given, else 16:9.
void frame_size_for(const std::string &resolution, const std::string &aspect_ratio,
                    const RgbImage *first_frame, int *width, int *height);

}  // namespace see2ai::dev
