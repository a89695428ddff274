#include "clip_renderer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <utility>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/mem.h>
#include <libswscale/swscale.h>
}

namespace see2ai::dev {

namespace {

constexpr int kMaxImageSide = 8192;
constexpr int kMaxFrameSide = 8192;

struct CodecContextDeleter {
  void operator()(AVCodecContext *context) const { avcodec_free_context(&context); }
};
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;

struct FrameDeleter {
  void operator()(AVFrame *frame) const { av_frame_free(&frame); }
};
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;

struct PacketDeleter {
  void operator()(AVPacket *packet) const { av_packet_free(&packet); }
};
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;

struct ScalerDeleter {
  void operator()(SwsContext *scaler) const { sws_freeContext(scaler); }
};
using ScalerPtr = std::unique_ptr<SwsContext, ScalerDeleter>;

struct OutputContextDeleter {
  void operator()(AVFormatContext *context) const {
    avio_closep(&context->pb);
    avformat_free_context(context);
  }
};
using OutputContextPtr = std::unique_ptr<AVFormatContext, OutputContextDeleter>;

struct InputContextDeleter {
  void operator()(AVFormatContext *context) const { avformat_close_input(&context); }
};
using InputContextPtr = std::unique_ptr<AVFormatContext, InputContextDeleter>;

// The AVIOContext's buffer may have been replaced by libav while probing, so it is freed through
// the context rather than through the pointer we allocated.
struct IoContextDeleter {
  void operator()(AVIOContext *io) const {
    av_freep(&io->buffer);
    avio_context_free(&io);
  }
};
using IoContextPtr = std::unique_ptr<AVIOContext, IoContextDeleter>;

std::string av_error_text(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

void check(int code, const char *step) {
  if (code < 0) throw std::runtime_error(std::string(step) + ": " + av_error_text(code));
}

template <typename T>
T *check_alloc(T *pointer, const char *step) {
  if (!pointer) throw std::runtime_error(std::string(step) + ": out of memory");
  return pointer;
}

FramePtr make_frame(const char *step) {
  return FramePtr(check_alloc(av_frame_alloc(), step));
}

FramePtr make_video_frame(int width, int height, AVPixelFormat format, const char *step) {
  FramePtr frame = make_frame(step);
  frame->width = width;
  frame->height = height;
  frame->format = format;
  check(av_frame_get_buffer(frame.get(), 0), step);
  return frame;
}

void validate_image(const RgbImage &image, const char *step) {
  if (image.width <= 0 || image.height <= 0 || image.width > kMaxImageSide ||
      image.height > kMaxImageSide) {
    throw std::runtime_error(std::string(step) + ": image size " + std::to_string(image.width) +
                             "x" + std::to_string(image.height) + " is out of range");
  }
  if (image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3) {
    throw std::runtime_error(std::string(step) + ": image has " + std::to_string(image.rgb.size()) +
                             " bytes, expected width*height*3");
  }
}

// JPEG decoders report the full-range "J" formats, which swscale only accepts (silently) when
// they are mapped to the plain format with the range given separately.
AVPixelFormat unjpeg_format(AVPixelFormat format, bool *full_range) {
  switch (format) {
    case AV_PIX_FMT_YUVJ420P:
      *full_range = true;
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
      *full_range = true;
      return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
      *full_range = true;
      return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
      *full_range = true;
      return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
      *full_range = true;
      return AV_PIX_FMT_YUV411P;
    default:
      return format;
  }
}

RgbImage frame_to_rgb(const AVFrame &frame) {
  bool full_range = frame.color_range == AVCOL_RANGE_JPEG;
  AVPixelFormat source_format =
      unjpeg_format(static_cast<AVPixelFormat>(frame.format), &full_range);
  ScalerPtr scaler(sws_getContext(frame.width, frame.height, source_format, frame.width,
                                  frame.height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr,
                                  nullptr));
  if (!scaler) throw std::runtime_error("decode_image: unsupported pixel format");
  const int *coefficients = sws_getCoefficients(SWS_CS_DEFAULT);
  sws_setColorspaceDetails(scaler.get(), coefficients, full_range ? 1 : 0, coefficients, 1, 0,
                           1 << 16, 1 << 16);
  FramePtr rgb = make_video_frame(frame.width, frame.height, AV_PIX_FMT_RGB24,
                                  "decode_image: allocating the RGB frame");
  check(sws_scale(scaler.get(), frame.data, frame.linesize, 0, frame.height, rgb->data,
                  rgb->linesize),
        "decode_image: sws_scale");
  RgbImage image;
  image.width = frame.width;
  image.height = frame.height;
  const size_t row_bytes = static_cast<size_t>(frame.width) * 3;
  image.rgb.resize(row_bytes * frame.height);
  for (int y = 0; y < frame.height; ++y) {
    std::memcpy(image.rgb.data() + row_bytes * y,
                rgb->data[0] + static_cast<ptrdiff_t>(y) * rgb->linesize[0], row_bytes);
  }
  return image;
}

struct MemoryReader {
  const uint8_t *data;
  int64_t size;
  int64_t position;
};

int read_memory(void *opaque, uint8_t *buffer, int buffer_size) {
  auto *reader = static_cast<MemoryReader *>(opaque);
  const int64_t left = reader->size - reader->position;
  if (left <= 0) return AVERROR_EOF;
  const int count = static_cast<int>(std::min<int64_t>(left, buffer_size));
  std::memcpy(buffer, reader->data + reader->position, count);
  reader->position += count;
  return count;
}

int64_t seek_memory(void *opaque, int64_t offset, int whence) {
  auto *reader = static_cast<MemoryReader *>(opaque);
  if (whence & AVSEEK_SIZE) return reader->size;
  int64_t target;
  switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET:
      target = offset;
      break;
    case SEEK_CUR:
      target = reader->position + offset;
      break;
    case SEEK_END:
      target = reader->size + offset;
      break;
    default:
      return AVERROR(EINVAL);
  }
  if (target < 0 || target > reader->size) return AVERROR(EINVAL);
  reader->position = target;
  return target;
}

// Only still-image demuxers are accepted: a probe on arbitrary bytes can otherwise settle on a
// raw audio or stream format with a low score and "decode" noise.
bool is_image_demuxer(const AVInputFormat &format) {
  const std::string name = format.name;
  const std::string pipe_suffix = "_pipe";
  const bool is_pipe =
      name.size() > pipe_suffix.size() &&
      name.compare(name.size() - pipe_suffix.size(), pipe_suffix.size(), pipe_suffix) == 0;
  return is_pipe || name == "gif" || name == "apng";
}

uint64_t fnv1a_hash(const std::string &text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

struct YuvColor {
  uint8_t y, u, v;
};

// BT.601 limited range, the same matrix swscale uses by default, so synthetic pixels and scaled
// reference images agree.
YuvColor rgb_to_yuv(double r, double g, double b) {
  auto clamp_byte = [](double value) {
    return static_cast<uint8_t>(std::clamp(std::lround(value), 0L, 255L));
  };
  return {clamp_byte(16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0),
          clamp_byte(128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0),
          clamp_byte(128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0)};
}

YuvColor hsv_color(double hue_degrees, double saturation, double value) {
  const double h = std::fmod(hue_degrees, 360.0) / 60.0;
  const double c = value * saturation;
  const double x = c * (1.0 - std::fabs(std::fmod(h, 2.0) - 1.0));
  const double m = value - c;
  double r = 0, g = 0, b = 0;
  if (h < 1) {
    r = c, g = x;
  } else if (h < 2) {
    r = x, g = c;
  } else if (h < 3) {
    g = c, b = x;
  } else if (h < 4) {
    g = x, b = c;
  } else if (h < 5) {
    r = x, b = c;
  } else {
    r = c, b = x;
  }
  return rgb_to_yuv((r + m) * 255.0, (g + m) * 255.0, (b + m) * 255.0);
}

int round_to_even(double value) {
  return static_cast<int>(std::lround(value / 2.0)) * 2;
}

// The synthetic picture: a background colour and a box colour picked by the seed, a box that moves
// every frame and a progress bar along the bottom, so frames are distinct and their order visible.
class SyntheticPicture {
 public:
  SyntheticPicture(const RenderSpec &spec, int64_t frame_count)
      : width_(spec.width), height_(spec.height), frame_count_(frame_count) {
    const uint64_t hash = fnv1a_hash(spec.seed_text);
    const double hue = static_cast<double>(hash % 360);
    background_ = hsv_color(hue, 0.55, 0.75);
    box_ = hsv_color(hue + 180.0, 0.8, 0.95);
    bar_ = rgb_to_yuv(240, 240, 240);
    box_side_ = std::max(2, round_to_even(height_ / 4.0));
    box_side_ = std::min({box_side_, width_, height_});
    // Even positions and steps keep the box on whole chroma samples; a step strictly between 0
    // and the travel guarantees the wrapped position changes every frame.
    travel_x_ = std::max(2, (width_ - box_side_) & ~1);
    const double fps = static_cast<double>(spec.fps_num) / spec.fps_den;
    step_x_ = std::clamp(round_to_even(width_ / (2.0 * fps)), 2, std::max(2, travel_x_ - 2));
    start_x_ = static_cast<int>((hash >> 20) % static_cast<uint64_t>(travel_x_)) & ~1;
    const int travel_y = std::max(2, height_ - box_side_);
    box_y_ = static_cast<int>((hash >> 40) % static_cast<uint64_t>(travel_y)) & ~1;
    bar_height_ = std::max(2, round_to_even(height_ / 40.0));
  }

  void draw(AVFrame *frame, int64_t index) const {
    fill_rect(frame, 0, 0, width_, height_, background_);
    const int box_x = static_cast<int>((start_x_ + index * step_x_) % travel_x_);
    fill_rect(frame, box_x, box_y_, box_side_, box_side_, box_);
    const int bar_width = static_cast<int>((index + 1) * width_ / frame_count_) & ~1;
    fill_rect(frame, 0, height_ - bar_height_, bar_width, bar_height_, bar_);
  }

 private:
  // x, y, w and h are even so the rectangle covers whole chroma samples.
  static void fill_rect(AVFrame *frame, int x, int y, int w, int h, YuvColor color) {
    w = std::min(w, frame->width - x);
    h = std::min(h, frame->height - y);
    if (w <= 0 || h <= 0) return;
    for (int row = y; row < y + h; ++row) {
      std::memset(frame->data[0] + static_cast<ptrdiff_t>(row) * frame->linesize[0] + x, color.y,
                  w);
    }
    for (int row = y / 2; row < (y + h) / 2; ++row) {
      std::memset(frame->data[1] + static_cast<ptrdiff_t>(row) * frame->linesize[1] + x / 2,
                  color.u, w / 2);
      std::memset(frame->data[2] + static_cast<ptrdiff_t>(row) * frame->linesize[2] + x / 2,
                  color.v, w / 2);
    }
  }

  int width_, height_;
  int64_t frame_count_;
  YuvColor background_{}, box_{}, bar_{};
  int box_side_ = 0, step_x_ = 0, start_x_ = 0, travel_x_ = 0, box_y_ = 0, bar_height_ = 0;
};

FramePtr image_to_frame(const RgbImage &image, int width, int height) {
  validate_image(image, "render_clip: reference frame");
  ScalerPtr scaler(sws_getContext(image.width, image.height, AV_PIX_FMT_RGB24, width, height,
                                  AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (!scaler) throw std::runtime_error("render_clip: sws_getContext for a reference frame failed");
  FramePtr frame = make_video_frame(width, height, AV_PIX_FMT_YUV420P,
                                    "render_clip: allocating a reference frame");
  const uint8_t *source[4] = {image.rgb.data(), nullptr, nullptr, nullptr};
  const int source_stride[4] = {image.width * 3, 0, 0, 0};
  check(
      sws_scale(scaler.get(), source, source_stride, 0, image.height, frame->data, frame->linesize),
      "render_clip: scaling a reference frame");
  return frame;
}

void validate_spec(const RenderSpec &spec) {
  if (spec.width <= 0 || spec.height <= 0 || spec.width % 2 != 0 || spec.height % 2 != 0 ||
      spec.width > kMaxFrameSide || spec.height > kMaxFrameSide) {
    throw std::runtime_error("render_clip: frame size " + std::to_string(spec.width) + "x" +
                             std::to_string(spec.height) + " must be even and at most 8192");
  }
  if (spec.fps_num <= 0 || spec.fps_den <= 0) {
    throw std::runtime_error("render_clip: frame rate must be positive");
  }
  if (!std::isfinite(spec.duration_s) || spec.duration_s <= 0 || spec.duration_s > 3600) {
    throw std::runtime_error("render_clip: duration must be in (0, 3600] seconds");
  }
  if (spec.audio != AudioTrack::None && spec.sample_rate <= 0) {
    throw std::runtime_error("render_clip: sample rate must be positive");
  }
}

CodecContextPtr open_video_encoder(const RenderSpec &spec, bool global_header) {
  const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
  if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_H264);
  if (!codec) throw std::runtime_error("render_clip: no H.264 encoder available");
  CodecContextPtr encoder(
      check_alloc(avcodec_alloc_context3(codec), "render_clip: allocating the video encoder"));
  encoder->width = spec.width;
  encoder->height = spec.height;
  encoder->pix_fmt = AV_PIX_FMT_YUV420P;
  encoder->time_base = AVRational{spec.fps_den, spec.fps_num};
  encoder->framerate = AVRational{spec.fps_num, spec.fps_den};
  encoder->gop_size =
      std::max(1, static_cast<int>(std::lround(static_cast<double>(spec.fps_num) / spec.fps_den)));
  encoder->max_b_frames = 0;
  encoder->color_range = AVCOL_RANGE_MPEG;
  encoder->colorspace = AVCOL_SPC_SMPTE170M;
  encoder->color_primaries = AVCOL_PRI_SMPTE170M;
  encoder->color_trc = AVCOL_TRC_SMPTE170M;
  if (global_header) encoder->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AVDictionary *options = nullptr;
  av_dict_set(&options, "preset", "ultrafast", 0);
  const int opened = avcodec_open2(encoder.get(), codec, &options);
  av_dict_free(&options);
  check(opened, "render_clip: opening the H.264 encoder");
  return encoder;
}

CodecContextPtr open_audio_encoder(const RenderSpec &spec, bool global_header) {
  const AVCodec *codec = avcodec_find_encoder_by_name("aac");
  if (!codec) throw std::runtime_error("render_clip: no AAC encoder available");
  if (codec->supported_samplerates) {
    bool supported = false;
    for (const int *rate = codec->supported_samplerates; *rate; ++rate) {
      supported = supported || *rate == spec.sample_rate;
    }
    if (!supported) {
      throw std::runtime_error("render_clip: AAC does not support a sample rate of " +
                               std::to_string(spec.sample_rate));
    }
  }
  CodecContextPtr encoder(
      check_alloc(avcodec_alloc_context3(codec), "render_clip: allocating the audio encoder"));
  encoder->sample_fmt = AV_SAMPLE_FMT_FLTP;
  encoder->sample_rate = spec.sample_rate;
  av_channel_layout_default(&encoder->ch_layout, spec.audio == AudioTrack::Stereo ? 2 : 1);
  encoder->bit_rate = spec.audio == AudioTrack::Stereo ? 128000 : 96000;
  encoder->time_base = AVRational{1, spec.sample_rate};
  if (global_header) encoder->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  check(avcodec_open2(encoder.get(), codec, nullptr), "render_clip: opening the AAC encoder");
  return encoder;
}

AVStream *add_stream(AVFormatContext *output, const AVCodecContext &encoder, const char *step) {
  AVStream *stream = check_alloc(avformat_new_stream(output, nullptr), step);
  check(avcodec_parameters_from_context(stream->codecpar, &encoder), step);
  stream->time_base = encoder.time_base;
  return stream;
}

// `delay` (in the encoder's time base) is added to every timestamp.
void write_packets(AVCodecContext *encoder, AVStream *stream, AVFormatContext *output,
                   AVPacket *packet, int64_t delay) {
  for (;;) {
    const int received = avcodec_receive_packet(encoder, packet);
    if (received == AVERROR(EAGAIN) || received == AVERROR_EOF) return;
    check(received, "render_clip: receiving an encoded packet");
    packet->pts += delay;
    packet->dts += delay;
    av_packet_rescale_ts(packet, encoder->time_base, stream->time_base);
    packet->stream_index = stream->index;
    check(av_interleaved_write_frame(output, packet), "render_clip: writing a packet");
  }
}

void encode(AVCodecContext *encoder, const AVFrame *frame, AVStream *stream,
            AVFormatContext *output, AVPacket *packet, int64_t delay = 0) {
  check(avcodec_send_frame(encoder, frame), "render_clip: sending a frame to the encoder");
  write_packets(encoder, stream, output, packet, delay);
}

// A tone whose pitch comes from the seed; the right channel of stereo plays a fifth above so the
// channels are distinguishable.
class SeedTone {
 public:
  SeedTone(const std::string &seed_text, int sample_rate) : sample_rate_(sample_rate) {
    const uint64_t hash = fnv1a_hash(seed_text);
    frequency_ = 220.0 + static_cast<double>((hash >> 8) % 661);
  }

  void fill(AVFrame *frame, int64_t first_sample) const {
    for (int channel = 0; channel < frame->ch_layout.nb_channels; ++channel) {
      const double frequency = channel == 0 ? frequency_ : frequency_ * 1.5;
      auto *samples = reinterpret_cast<float *>(frame->data[channel]);
      for (int i = 0; i < frame->nb_samples; ++i) {
        const double t = static_cast<double>(first_sample + i) / sample_rate_;
        samples[i] = static_cast<float>(0.3 * std::sin(2.0 * M_PI * frequency * t));
      }
    }
  }

 private:
  int sample_rate_;
  double frequency_ = 440.0;
};

// Removes the temporary file unless the render completed and renamed it.
class PartialFileGuard {
 public:
  explicit PartialFileGuard(std::string path) : path_(std::move(path)) {}
  ~PartialFileGuard() {
    if (armed_) std::remove(path_.c_str());
  }
  PartialFileGuard(const PartialFileGuard &) = delete;
  PartialFileGuard &operator=(const PartialFileGuard &) = delete;
  void disarm() { armed_ = false; }

 private:
  std::string path_;
  bool armed_ = true;
};

const char *movflags_for(Mp4Layout layout) {
  switch (layout) {
    case Mp4Layout::Faststart:
      return "+faststart";
    case Mp4Layout::Fragmented:
      return "frag_keyframe+empty_moov+default_base_moof";
    case Mp4Layout::MoovAtEnd:
      break;
  }
  return nullptr;
}

}  // namespace

RgbImage solid_image(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide) {
    throw std::runtime_error("solid_image: size " + std::to_string(width) + "x" +
                             std::to_string(height) + " is out of range");
  }
  RgbImage image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < image.rgb.size(); i += 3) {
    image.rgb[i] = r;
    image.rgb[i + 1] = g;
    image.rgb[i + 2] = b;
  }
  return image;
}

RgbImage decode_image(const std::vector<uint8_t> &bytes) {
  if (bytes.empty()) throw std::runtime_error("decode_image: not an image (no bytes)");
  MemoryReader reader{bytes.data(), static_cast<int64_t>(bytes.size()), 0};
  constexpr int kIoBufferSize = 32768;
  auto *io_buffer =
      static_cast<uint8_t *>(check_alloc(av_malloc(kIoBufferSize), "decode_image: I/O buffer"));
  AVIOContext *raw_io =
      avio_alloc_context(io_buffer, kIoBufferSize, 0, &reader, read_memory, nullptr, seek_memory);
  if (!raw_io) {
    av_free(io_buffer);
    throw std::runtime_error("decode_image: avio_alloc_context: out of memory");
  }
  IoContextPtr io(raw_io);

  const AVInputFormat *format = nullptr;
  const int score = av_probe_input_buffer2(io.get(), &format, "", nullptr, 0, 0);
  if (score < 0 || !format) {
    throw std::runtime_error("decode_image: not an image (" + av_error_text(score) + ")");
  }
  if (!is_image_demuxer(*format)) {
    throw std::runtime_error(std::string("decode_image: not an image (looks like ") + format->name +
                             ")");
  }

  AVFormatContext *raw_input =
      check_alloc(avformat_alloc_context(), "decode_image: avformat_alloc_context");
  raw_input->pb = io.get();
  raw_input->flags |= AVFMT_FLAG_CUSTOM_IO;
  // On failure avformat_open_input frees the context itself.
  check(avformat_open_input(&raw_input, nullptr, format, nullptr),
        "decode_image: not an image: avformat_open_input");
  InputContextPtr input(raw_input);
  if (input->nb_streams < 1 || input->streams[0]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) {
    throw std::runtime_error("decode_image: not an image (no picture stream)");
  }
  const AVCodecParameters *parameters = input->streams[0]->codecpar;
  const AVCodec *codec = avcodec_find_decoder(parameters->codec_id);
  if (!codec) {
    throw std::runtime_error(std::string("decode_image: no decoder for ") +
                             avcodec_get_name(parameters->codec_id));
  }
  CodecContextPtr decoder(
      check_alloc(avcodec_alloc_context3(codec), "decode_image: allocating the decoder"));
  check(avcodec_parameters_to_context(decoder.get(), parameters),
        "decode_image: avcodec_parameters_to_context");
  decoder->max_pixels = static_cast<int64_t>(kMaxImageSide) * kMaxImageSide;
  decoder->thread_count = 1;
  check(avcodec_open2(decoder.get(), codec, nullptr), "decode_image: opening the decoder");

  PacketPtr packet(check_alloc(av_packet_alloc(), "decode_image: av_packet_alloc"));
  FramePtr frame = make_frame("decode_image: av_frame_alloc");
  bool decoded = false;
  bool flushed = false;
  while (!decoded && !flushed) {
    const int read = av_read_frame(input.get(), packet.get());
    if (read == AVERROR_EOF) {
      check(avcodec_send_packet(decoder.get(), nullptr), "decode_image: flushing the decoder");
      flushed = true;
    } else {
      check(read, "decode_image: not an image: reading");
      const bool ours = packet->stream_index == 0;
      const int sent = ours ? avcodec_send_packet(decoder.get(), packet.get()) : 0;
      av_packet_unref(packet.get());
      check(sent, "decode_image: not an image: decoding");
    }
    const int received = avcodec_receive_frame(decoder.get(), frame.get());
    if (received == 0) {
      decoded = true;
    } else if (received != AVERROR(EAGAIN) && received != AVERROR_EOF) {
      check(received, "decode_image: not an image: decoding");
    }
  }
  if (!decoded) throw std::runtime_error("decode_image: not an image (no picture decoded)");
  if (frame->width <= 0 || frame->height <= 0 || frame->width > kMaxImageSide ||
      frame->height > kMaxImageSide) {
    throw std::runtime_error("decode_image: image size " + std::to_string(frame->width) + "x" +
                             std::to_string(frame->height) + " is out of range");
  }
  return frame_to_rgb(*frame);
}

std::vector<uint8_t> encode_png(const RgbImage &image) {
  validate_image(image, "encode_png");
  const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (!codec) throw std::runtime_error("encode_png: no PNG encoder available");
  CodecContextPtr encoder(
      check_alloc(avcodec_alloc_context3(codec), "encode_png: allocating the encoder"));
  encoder->width = image.width;
  encoder->height = image.height;
  encoder->pix_fmt = AV_PIX_FMT_RGB24;
  encoder->time_base = AVRational{1, 1};
  check(avcodec_open2(encoder.get(), codec, nullptr), "encode_png: opening the encoder");

  FramePtr frame = make_video_frame(image.width, image.height, AV_PIX_FMT_RGB24,
                                    "encode_png: allocating the frame");
  const size_t row_bytes = static_cast<size_t>(image.width) * 3;
  for (int y = 0; y < image.height; ++y) {
    std::memcpy(frame->data[0] + static_cast<ptrdiff_t>(y) * frame->linesize[0],
                image.rgb.data() + row_bytes * y, row_bytes);
  }
  frame->pts = 0;
  check(avcodec_send_frame(encoder.get(), frame.get()), "encode_png: sending the frame");
  check(avcodec_send_frame(encoder.get(), nullptr), "encode_png: flushing");
  PacketPtr packet(check_alloc(av_packet_alloc(), "encode_png: av_packet_alloc"));
  check(avcodec_receive_packet(encoder.get(), packet.get()), "encode_png: receiving the PNG");
  return std::vector<uint8_t>(packet->data, packet->data + packet->size);
}

void render_clip(const RenderSpec &spec, const std::string &path) {
  validate_spec(spec);
  const int64_t frame_count =
      std::llround(spec.duration_s * spec.fps_num / static_cast<double>(spec.fps_den));
  if (frame_count < 1) throw std::runtime_error("render_clip: duration is shorter than one frame");
  const int64_t clip_samples =
      spec.audio == AudioTrack::None ? 0 : std::llround(spec.duration_s * spec.sample_rate);

  FramePtr first_frame, last_frame;
  if (spec.first_frame) first_frame = image_to_frame(*spec.first_frame, spec.width, spec.height);
  if (spec.last_frame) last_frame = image_to_frame(*spec.last_frame, spec.width, spec.height);

  const std::string part_path = path + ".part";
  const std::string part_url = "file:" + part_path;
  AVFormatContext *raw_output = nullptr;
  check(avformat_alloc_output_context2(&raw_output, nullptr, "mp4", part_url.c_str()),
        "render_clip: avformat_alloc_output_context2");
  OutputContextPtr output(raw_output);
  const bool global_header = output->oformat->flags & AVFMT_GLOBALHEADER;

  CodecContextPtr video_encoder = open_video_encoder(spec, global_header);
  AVStream *video_stream = add_stream(output.get(), *video_encoder, "render_clip: video stream");
  video_stream->avg_frame_rate = video_encoder->framerate;
  CodecContextPtr audio_encoder;
  AVStream *audio_stream = nullptr;
  if (spec.audio != AudioTrack::None) {
    audio_encoder = open_audio_encoder(spec, global_header);
    audio_stream = add_stream(output.get(), *audio_encoder, "render_clip: audio stream");
  }

  PartialFileGuard part_guard(part_path);
  check(avio_open(&output->pb, part_url.c_str(), AVIO_FLAG_WRITE),
        ("render_clip: opening " + part_path).c_str());
  AVDictionary *muxer_options = nullptr;
  if (const char *movflags = movflags_for(spec.layout)) {
    av_dict_set(&muxer_options, "movflags", movflags, 0);
  }
  const int header_written = avformat_write_header(output.get(), &muxer_options);
  av_dict_free(&muxer_options);
  check(header_written, "render_clip: writing the MP4 header");

  PacketPtr packet(check_alloc(av_packet_alloc(), "render_clip: av_packet_alloc"));
  FramePtr picture = make_video_frame(spec.width, spec.height, AV_PIX_FMT_YUV420P,
                                      "render_clip: allocating the picture");
  const SyntheticPicture synthetic(spec, frame_count);
  FramePtr sound;
  int64_t sample_count = clip_samples;
  int64_t audio_delay = 0;
  int64_t samples_written = 0;
  const SeedTone tone(spec.seed_text, spec.sample_rate);
  if (audio_encoder) {
    sound = make_frame("render_clip: allocating the audio frame");
    sound->format = audio_encoder->sample_fmt;
    sound->sample_rate = audio_encoder->sample_rate;
    sound->nb_samples = audio_encoder->frame_size;
    check(av_channel_layout_copy(&sound->ch_layout, &audio_encoder->ch_layout),
          "render_clip: audio channel layout");
    check(av_frame_get_buffer(sound.get(), 0), "render_clip: allocating the audio frame");
    // An empty_moov header is written before any sample exists, so it cannot carry the edit list
    // that hides the encoder delay (the muxer would instead shift every track, video included).
    // The delay therefore plays as the start of the audio track, and the tone is shortened by it
    // to keep the track exactly duration_s long.
    if (spec.layout == Mp4Layout::Fragmented && clip_samples > audio_encoder->initial_padding) {
      audio_delay = audio_encoder->initial_padding;
      sample_count -= audio_delay;
    }
  }
  auto encode_audio_until = [&](int64_t target) {
    while (samples_written < std::min(target, sample_count)) {
      check(av_frame_make_writable(sound.get()), "render_clip: audio frame");
      sound->nb_samples = static_cast<int>(
          std::min<int64_t>(audio_encoder->frame_size, sample_count - samples_written));
      tone.fill(sound.get(), samples_written);
      sound->pts = samples_written;
      encode(audio_encoder.get(), sound.get(), audio_stream, output.get(), packet.get(),
             audio_delay);
      samples_written += sound->nb_samples;
    }
  };

  for (int64_t index = 0; index < frame_count; ++index) {
    if (audio_encoder) {
      encode_audio_until((index + 1) * spec.sample_rate * spec.fps_den / spec.fps_num);
    }
    AVFrame *frame = nullptr;
    if (index == 0 && first_frame) {
      frame = first_frame.get();
    } else if (index == frame_count - 1 && last_frame) {
      frame = last_frame.get();
    } else {
      check(av_frame_make_writable(picture.get()), "render_clip: picture");
      synthetic.draw(picture.get(), index);
      frame = picture.get();
    }
    frame->pts = index;
    encode(video_encoder.get(), frame, video_stream, output.get(), packet.get());
  }
  if (audio_encoder) {
    encode_audio_until(sample_count);
    encode(audio_encoder.get(), nullptr, audio_stream, output.get(), packet.get(), audio_delay);
  }
  encode(video_encoder.get(), nullptr, video_stream, output.get(), packet.get());
  check(av_write_trailer(output.get()), "render_clip: writing the MP4 trailer");
  check(avio_closep(&output->pb), "render_clip: closing the file");

  if (std::rename(part_path.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("render_clip: renaming " + part_path + " to " + path + ": " +
                             std::strerror(errno));
  }
  part_guard.disarm();
}

void frame_size_for(const std::string &resolution, const std::string &aspect_ratio,
                    const RgbImage *first_frame, int *width, int *height) {
  int short_side = 0;
  if (resolution == "720p") {
    short_side = 720;
  } else if (resolution == "480p") {
    short_side = 480;
  } else {
    throw std::runtime_error("frame_size_for: unknown resolution \"" + resolution + "\"");
  }
  double aspect = 16.0 / 9.0;
  if (aspect_ratio == "adaptive") {
    if (first_frame && first_frame->width > 0 && first_frame->height > 0) {
      aspect = std::clamp(static_cast<double>(first_frame->width) / first_frame->height, 0.4, 2.5);
    }
  } else {
    static const std::pair<const char *, double> kAspects[] = {
        {"16:9", 16.0 / 9.0}, {"9:16", 9.0 / 16.0}, {"1:1", 1.0},
        {"21:9", 21.0 / 9.0}, {"4:3", 4.0 / 3.0},   {"3:4", 3.0 / 4.0}};
    const auto *known =
        std::find_if(std::begin(kAspects), std::end(kAspects),
                     [&](const auto &entry) { return aspect_ratio == entry.first; });
    if (known == std::end(kAspects)) {
      throw std::runtime_error("frame_size_for: unknown aspect ratio \"" + aspect_ratio + "\"");
    }
    aspect = known->second;
  }
  if (aspect >= 1.0) {
    *height = short_side;
    *width = round_to_even(short_side * aspect);
  } else {
    *width = short_side;
    *height = round_to_even(short_side / aspect);
  }
}

}  // namespace see2ai::dev
