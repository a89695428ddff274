#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "clip_renderer.h"
#include "devserver_process.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

namespace see2ai::dev {
namespace {

// What libavformat/libavcodec find in a rendered file, decoded end to end.
struct Mp4Report {
  int stream_count = 0;
  std::string video_codec;
  int width = 0;
  int height = 0;
  AVRational frame_rate{0, 1};
  double video_duration_s = 0;
  int64_t video_frames = 0;
  double first_mean[3] = {0, 0, 0};
  double last_mean[3] = {0, 0, 0};
  std::vector<double> video_pts_s;  // per packet, in decode order
  std::vector<uint8_t> first_rgb;
  std::vector<size_t> frame_digests;  // hash of every decoded picture, in order
  std::string audio_codec;
  int channels = 0;
  int sample_rate = 0;
  double audio_duration_s = 0;
  int64_t audio_samples = 0;
  std::vector<float> first_channel;  // decoded samples of the first audio channel
};

std::vector<uint8_t> frame_rgb(const AVFrame &frame) {
  SwsContext *scaler = sws_getContext(
      frame.width, frame.height, static_cast<AVPixelFormat>(frame.format), frame.width,
      frame.height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr);
  if (!scaler) throw std::runtime_error("sws_getContext failed");
  std::vector<uint8_t> rgb(static_cast<size_t>(frame.width) * frame.height * 3);
  uint8_t *planes[4] = {rgb.data(), nullptr, nullptr, nullptr};
  int strides[4] = {frame.width * 3, 0, 0, 0};
  sws_scale(scaler, frame.data, frame.linesize, 0, frame.height, planes, strides);
  sws_freeContext(scaler);
  return rgb;
}

void mean_rgb(const std::vector<uint8_t> &rgb, double mean[3]) {
  double sums[3] = {0, 0, 0};
  for (size_t i = 0; i < rgb.size(); ++i) sums[i % 3] += rgb[i];
  for (int c = 0; c < 3; ++c) mean[c] = sums[c] / static_cast<double>(rgb.size() / 3);
}

double stream_seconds(const AVStream &stream) {
  return stream.duration > 0 ? static_cast<double>(stream.duration) * av_q2d(stream.time_base)
                             : 0.0;
}

Mp4Report inspect_mp4(const std::string &path) {
  Mp4Report report;
  AVFormatContext *input = nullptr;
  if (avformat_open_input(&input, path.c_str(), nullptr, nullptr) < 0) {
    throw std::runtime_error("cannot open " + path);
  }
  avformat_find_stream_info(input, nullptr);
  report.stream_count = static_cast<int>(input->nb_streams);
  std::vector<AVCodecContext *> decoders(input->nb_streams, nullptr);
  for (unsigned i = 0; i < input->nb_streams; ++i) {
    const AVStream *stream = input->streams[i];
    const AVCodecParameters *par = stream->codecpar;
    if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
      report.video_codec = avcodec_get_name(par->codec_id);
      report.width = par->width;
      report.height = par->height;
      report.frame_rate = stream->avg_frame_rate;
      report.video_duration_s = stream_seconds(*stream);
    } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
      report.audio_codec = avcodec_get_name(par->codec_id);
      report.channels = par->ch_layout.nb_channels;
      report.sample_rate = par->sample_rate;
      report.audio_duration_s = stream_seconds(*stream);
    }
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    decoders[i] = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(decoders[i], par);
    avcodec_open2(decoders[i], codec, nullptr);
  }
  AVPacket *packet = av_packet_alloc();
  AVFrame *frame = av_frame_alloc();
  auto drain = [&](unsigned index) {
    while (avcodec_receive_frame(decoders[index], frame) == 0) {
      if (decoders[index]->codec_type == AVMEDIA_TYPE_VIDEO) {
        std::vector<uint8_t> rgb = frame_rgb(*frame);
        if (report.video_frames == 0) report.first_rgb = rgb;
        report.frame_digests.push_back(std::hash<std::string_view>()(
            std::string_view(reinterpret_cast<const char *>(rgb.data()), rgb.size())));
        mean_rgb(rgb, report.last_mean);
        ++report.video_frames;
      } else {
        report.audio_samples += frame->nb_samples;
        if (frame->format == AV_SAMPLE_FMT_FLTP) {
          const auto *samples = reinterpret_cast<const float *>(frame->data[0]);
          report.first_channel.insert(report.first_channel.end(), samples,
                                      samples + frame->nb_samples);
        }
      }
      av_frame_unref(frame);
    }
  };
  while (av_read_frame(input, packet) >= 0) {
    const auto index = static_cast<unsigned>(packet->stream_index);
    if (decoders[index]->codec_type == AVMEDIA_TYPE_VIDEO) {
      report.video_pts_s.push_back(static_cast<double>(packet->pts) *
                                   av_q2d(input->streams[index]->time_base));
    }
    avcodec_send_packet(decoders[index], packet);
    av_packet_unref(packet);
    drain(index);
  }
  for (unsigned i = 0; i < input->nb_streams; ++i) {
    avcodec_send_packet(decoders[i], nullptr);
    drain(i);
    avcodec_free_context(&decoders[i]);
  }
  if (!report.first_rgb.empty()) mean_rgb(report.first_rgb, report.first_mean);
  av_frame_free(&frame);
  av_packet_free(&packet);
  avformat_close_input(&input);
  return report;
}

std::vector<uint8_t> read_bytes(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), {});
}

bool file_exists(const std::string &path) {
  return std::ifstream(path).good();
}

// Offset of the first top-level box of `type`, or -1.
int64_t top_level_box(const std::vector<uint8_t> &bytes, const char *type) {
  size_t offset = 0;
  while (offset + 8 <= bytes.size()) {
    uint64_t size = (uint64_t{bytes[offset]} << 24) | (uint64_t{bytes[offset + 1]} << 16) |
                    (uint64_t{bytes[offset + 2]} << 8) | uint64_t{bytes[offset + 3]};
    if (std::equal(type, type + 4, bytes.begin() + static_cast<ptrdiff_t>(offset) + 4)) {
      return static_cast<int64_t>(offset);
    }
    if (size == 1 && offset + 16 <= bytes.size()) {
      size = 0;
      for (int i = 0; i < 8; ++i) size = (size << 8) | bytes[offset + 8 + i];
    }
    if (size < 8) return -1;
    offset += size;
  }
  return -1;
}

// Without B-frames decode order is presentation order: packet i must sit at i / fps.
void expect_regular_video_timestamps(const Mp4Report &report, double fps) {
  ASSERT_EQ(report.video_pts_s.size(), static_cast<size_t>(report.video_frames));
  for (size_t i = 0; i < report.video_pts_s.size(); ++i) {
    EXPECT_NEAR(report.video_pts_s[i], static_cast<double>(i) / fps, 1e-3) << "frame " << i;
  }
}

class ClipRendererTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { av_log_set_level(AV_LOG_ERROR); }
  void SetUp() override { dir_ = see2ai::test::make_temp_dir("clip-renderer"); }
  std::string path(const std::string &name) const { return dir_ + "/" + name; }

  static RenderSpec small_spec(const std::string &seed) {
    RenderSpec spec;
    spec.width = 320;
    spec.height = 180;
    spec.duration_s = 2.0;
    spec.seed_text = seed;
    return spec;
  }

  std::string dir_;
};

constexpr double kFrame24 = 1.0 / 24.0;

TEST_F(ClipRendererTest, FaststartClipHasH264AacAndMoovBeforeMdat) {
  const RenderSpec spec = small_spec("a red fox in the snow");
  const std::string file = path("faststart.mp4");
  render_clip(spec, file);

  const Mp4Report report = inspect_mp4(file);
  EXPECT_EQ(report.stream_count, 2);
  EXPECT_EQ(report.video_codec, "h264");
  EXPECT_EQ(report.width, 320);
  EXPECT_EQ(report.height, 180);
  EXPECT_EQ(av_cmp_q(report.frame_rate, AVRational{24, 1}), 0);
  EXPECT_NEAR(report.video_duration_s, 2.0, kFrame24);
  EXPECT_EQ(report.video_frames, 48);
  EXPECT_EQ(report.audio_codec, "aac");
  EXPECT_EQ(report.channels, 1);
  EXPECT_EQ(report.sample_rate, 48000);
  EXPECT_NEAR(report.audio_duration_s, 2.0, kFrame24);
  EXPECT_NEAR(static_cast<double>(report.audio_samples), 96000.0, 1024.0);
  expect_regular_video_timestamps(report, 24.0);

  const std::vector<uint8_t> bytes = read_bytes(file);
  const int64_t moov = top_level_box(bytes, "moov");
  const int64_t mdat = top_level_box(bytes, "mdat");
  ASSERT_GE(moov, 0);
  ASSERT_GE(mdat, 0);
  EXPECT_LT(moov, mdat);
  EXPECT_FALSE(file_exists(file + ".part"));
}

TEST_F(ClipRendererTest, MoovAtEndClipWithoutAudioHasOnlyVideoAndMdatFirst) {
  RenderSpec spec = small_spec("moov at end");
  spec.audio = AudioTrack::None;
  spec.layout = Mp4Layout::MoovAtEnd;
  spec.duration_s = 1.0;
  const std::string file = path("moov-at-end.mp4");
  render_clip(spec, file);

  const Mp4Report report = inspect_mp4(file);
  EXPECT_EQ(report.stream_count, 1);
  EXPECT_EQ(report.video_codec, "h264");
  EXPECT_TRUE(report.audio_codec.empty());
  EXPECT_EQ(report.video_frames, 24);
  EXPECT_NEAR(report.video_duration_s, 1.0, kFrame24);
  expect_regular_video_timestamps(report, 24.0);

  const std::vector<uint8_t> bytes = read_bytes(file);
  const int64_t moov = top_level_box(bytes, "moov");
  const int64_t mdat = top_level_box(bytes, "mdat");
  ASSERT_GE(moov, 0);
  ASSERT_GE(mdat, 0);
  EXPECT_GT(moov, mdat);
}

TEST_F(ClipRendererTest, FragmentedStereoClipHasMoofAndAllFramesAndSamples) {
  RenderSpec spec = small_spec("fragmented stereo");
  spec.audio = AudioTrack::Stereo;
  spec.sample_rate = 44100;
  spec.layout = Mp4Layout::Fragmented;
  const std::string file = path("fragmented.mp4");
  render_clip(spec, file);

  const Mp4Report report = inspect_mp4(file);
  EXPECT_EQ(report.stream_count, 2);
  EXPECT_EQ(report.video_frames, 48);
  EXPECT_EQ(report.audio_codec, "aac");
  EXPECT_EQ(report.channels, 2);
  EXPECT_EQ(report.sample_rate, 44100);
  EXPECT_NEAR(static_cast<double>(report.audio_samples), 88200.0, 1024.0);
  EXPECT_NEAR(report.video_duration_s, 2.0, kFrame24);
  EXPECT_NEAR(report.audio_duration_s, 2.0, kFrame24);
  expect_regular_video_timestamps(report, 24.0);

  const std::vector<uint8_t> bytes = read_bytes(file);
  const int64_t moov = top_level_box(bytes, "moov");
  const int64_t moof = top_level_box(bytes, "moof");
  ASSERT_GE(moov, 0);
  ASSERT_GE(moof, 0);
  EXPECT_LT(moov, moof);
  // frag_keyframe with a one second GOP: one fragment per second of video.
  EXPECT_GE(std::count_if(bytes.begin(), bytes.end() - 4,
                          [&](const uint8_t &b) {
                            const uint8_t *p = &b;
                            return p[0] == 'm' && p[1] == 'o' && p[2] == 'o' && p[3] == 'f';
                          }),
            2);
}

TEST_F(ClipRendererTest, FirstAndLastFrameImagesAreUsedExactly) {
  RenderSpec spec = small_spec("first and last");
  spec.duration_s = 1.0;
  spec.audio = AudioTrack::None;
  spec.first_frame = solid_image(64, 48, 200, 30, 40);
  spec.last_frame = solid_image(500, 100, 20, 60, 220);
  const std::string file = path("first-last.mp4");
  render_clip(spec, file);

  const Mp4Report report = inspect_mp4(file);
  ASSERT_EQ(report.video_frames, 24);
  constexpr double kTolerance = 6.0;
  EXPECT_NEAR(report.first_mean[0], 200, kTolerance);
  EXPECT_NEAR(report.first_mean[1], 30, kTolerance);
  EXPECT_NEAR(report.first_mean[2], 40, kTolerance);
  EXPECT_NEAR(report.last_mean[0], 20, kTolerance);
  EXPECT_NEAR(report.last_mean[1], 60, kTolerance);
  EXPECT_NEAR(report.last_mean[2], 220, kTolerance);
}

TEST_F(ClipRendererTest, SameSeedGivesIdenticalPicturesAndDifferentSeedDoesNot) {
  RenderSpec spec = small_spec("determinism");
  spec.duration_s = 0.5;
  render_clip(spec, path("one.mp4"));
  render_clip(spec, path("two.mp4"));
  spec.seed_text = "something else entirely";
  render_clip(spec, path("three.mp4"));

  const Mp4Report one = inspect_mp4(path("one.mp4"));
  const Mp4Report two = inspect_mp4(path("two.mp4"));
  const Mp4Report three = inspect_mp4(path("three.mp4"));
  ASSERT_FALSE(one.first_rgb.empty());
  EXPECT_EQ(one.first_rgb, two.first_rgb);
  EXPECT_NE(one.first_rgb, three.first_rgb);
}

TEST_F(ClipRendererTest, ConsecutiveFramesDiffer) {
  RenderSpec spec = small_spec("motion");
  spec.width = 64;
  spec.height = 36;
  spec.duration_s = 1.0;
  spec.audio = AudioTrack::None;
  render_clip(spec, path("motion.mp4"));
  const Mp4Report report = inspect_mp4(path("motion.mp4"));
  ASSERT_EQ(report.frame_digests.size(), 24u);
  for (size_t i = 1; i < report.frame_digests.size(); ++i) {
    EXPECT_NE(report.frame_digests[i - 1], report.frame_digests[i]) << "frame " << i;
  }
}

// Zero crossings per second of the decoded tone: twice its frequency.
double crossings_per_second(const std::vector<float> &samples, int sample_rate) {
  int64_t crossings = 0;
  for (size_t i = 1; i < samples.size(); ++i) {
    crossings += (samples[i - 1] < 0) != (samples[i] < 0);
  }
  return static_cast<double>(crossings) * sample_rate / static_cast<double>(samples.size());
}

double rms(const std::vector<float> &samples) {
  double sum = 0;
  for (float sample : samples) sum += static_cast<double>(sample) * sample;
  return samples.empty() ? 0.0 : std::sqrt(sum / static_cast<double>(samples.size()));
}

TEST_F(ClipRendererTest, AudioIsAnAudibleToneWhosePitchFollowsTheSeed) {
  RenderSpec spec = small_spec("low");
  spec.duration_s = 1.0;
  render_clip(spec, path("tone-a.mp4"));
  spec.seed_text = "a different prompt";
  render_clip(spec, path("tone-b.mp4"));
  const Mp4Report a = inspect_mp4(path("tone-a.mp4"));
  const Mp4Report b = inspect_mp4(path("tone-b.mp4"));
  ASSERT_GT(a.first_channel.size(), 40000u);
  ASSERT_GT(b.first_channel.size(), 40000u);
  EXPECT_GT(rms(a.first_channel), 0.1);
  EXPECT_GT(rms(b.first_channel), 0.1);
  const double pitch_a = crossings_per_second(a.first_channel, 48000) / 2;
  const double pitch_b = crossings_per_second(b.first_channel, 48000) / 2;
  EXPECT_GE(pitch_a, 200);
  EXPECT_LE(pitch_a, 900);
  EXPECT_GT(std::fabs(pitch_a - pitch_b), 10) << pitch_a << " vs " << pitch_b;
}

TEST_F(ClipRendererTest, FrameCountIsRoundedDurationTimesFrameRate) {
  RenderSpec spec = small_spec("ntsc");
  spec.fps_num = 30000;
  spec.fps_den = 1001;
  spec.duration_s = 1.3;
  spec.audio = AudioTrack::None;
  render_clip(spec, path("ntsc.mp4"));
  const Mp4Report report = inspect_mp4(path("ntsc.mp4"));
  EXPECT_EQ(report.video_frames, 39);  // round(1.3 * 29.97) = round(38.96)
  EXPECT_EQ(av_cmp_q(report.frame_rate, AVRational{30000, 1001}), 0);
}

TEST_F(ClipRendererTest, UnusualEvenSizesRender) {
  for (const auto &[width, height] : std::vector<std::pair<int, int>>{{1248, 704}, {1470, 630}}) {
    RenderSpec spec = small_spec("size");
    spec.width = width;
    spec.height = height;
    spec.duration_s = 0.25;
    spec.first_frame = solid_image(33, 17, 10, 200, 10);
    const std::string file = path("size-" + std::to_string(width) + ".mp4");
    render_clip(spec, file);
    const Mp4Report report = inspect_mp4(file);
    EXPECT_EQ(report.width, width);
    EXPECT_EQ(report.height, height);
    EXPECT_EQ(report.video_frames, 6);
  }
}

TEST_F(ClipRendererTest, OddFrameSizeIsRejected_n) {
  RenderSpec spec = small_spec("odd");
  spec.width = 321;
  EXPECT_THROW(render_clip(spec, path("odd.mp4")), std::runtime_error);
  EXPECT_FALSE(file_exists(path("odd.mp4")));
}

TEST_F(ClipRendererTest, NonPositiveDurationIsRejected_n) {
  RenderSpec spec = small_spec("zero");
  spec.duration_s = 0;
  EXPECT_THROW(render_clip(spec, path("zero.mp4")), std::runtime_error);
  spec.duration_s = std::nan("");
  EXPECT_THROW(render_clip(spec, path("nan.mp4")), std::runtime_error);
}

TEST_F(ClipRendererTest, UnsupportedSampleRateIsRejected_n) {
  RenderSpec spec = small_spec("rate");
  spec.sample_rate = 12345;
  try {
    render_clip(spec, path("rate.mp4"));
    FAIL() << "expected an exception";
  } catch (const std::runtime_error &error) {
    EXPECT_NE(std::string(error.what()).find("sample rate"), std::string::npos) << error.what();
  }
  EXPECT_FALSE(file_exists(path("rate.mp4.part")));
}

TEST_F(ClipRendererTest, UnwritableDirectoryFailsNamingTheStep_n) {
  const std::string file = path("missing-dir/clip.mp4");
  try {
    render_clip(small_spec("nowhere"), file);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error &error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("opening"), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
  }
  EXPECT_FALSE(file_exists(file));
}

TEST_F(ClipRendererTest, MalformedReferenceImageIsRejected_n) {
  RenderSpec spec = small_spec("bad image");
  RgbImage broken = solid_image(10, 10, 1, 2, 3);
  broken.rgb.resize(10);
  spec.first_frame = broken;
  EXPECT_THROW(render_clip(spec, path("bad-image.mp4")), std::runtime_error);
  EXPECT_FALSE(file_exists(path("bad-image.mp4.part")));
}

struct FrameSizeCase {
  const char *resolution;
  const char *aspect;
  int width;
  int height;
};

TEST(FrameSizeFor, MatchesTheTable) {
  const FrameSizeCase cases[] = {
      {"720p", "16:9", 1280, 720},    {"480p", "16:9", 854, 480},  {"720p", "9:16", 720, 1280},
      {"480p", "9:16", 480, 854},     {"720p", "1:1", 720, 720},   {"480p", "1:1", 480, 480},
      {"720p", "21:9", 1680, 720},    {"480p", "21:9", 1120, 480}, {"720p", "4:3", 960, 720},
      {"480p", "4:3", 640, 480},      {"720p", "3:4", 720, 960},   {"480p", "3:4", 480, 640},
      {"720p", "adaptive", 1280, 720}};
  for (const FrameSizeCase &c : cases) {
    int width = 0, height = 0;
    frame_size_for(c.resolution, c.aspect, nullptr, &width, &height);
    EXPECT_EQ(width, c.width) << c.resolution << " " << c.aspect;
    EXPECT_EQ(height, c.height) << c.resolution << " " << c.aspect;
  }
}

TEST(FrameSizeFor, AdaptiveFollowsTheFirstFrameWithinLimits) {
  int width = 0, height = 0;
  const RgbImage portrait = solid_image(300, 500, 0, 0, 0);
  frame_size_for("720p", "adaptive", &portrait, &width, &height);
  EXPECT_EQ(width, 720);
  EXPECT_EQ(height, 1200);

  const RgbImage odd_aspect = solid_image(1000, 777, 0, 0, 0);
  frame_size_for("480p", "adaptive", &odd_aspect, &width, &height);
  EXPECT_EQ(height, 480);
  EXPECT_EQ(width, 618);  // 480 * 1000 / 777 = 617.8 -> nearest even

  const RgbImage panorama = solid_image(4000, 100, 0, 0, 0);
  frame_size_for("480p", "adaptive", &panorama, &width, &height);
  EXPECT_EQ(width, 1200);  // clamped to 2.5
  EXPECT_EQ(height, 480);

  const RgbImage tower = solid_image(100, 4000, 0, 0, 0);
  frame_size_for("720p", "adaptive", &tower, &width, &height);
  EXPECT_EQ(width, 720);
  EXPECT_EQ(height, 1800);  // clamped to 0.4

  const RgbImage square = solid_image(64, 64, 0, 0, 0);
  frame_size_for("720p", "16:9", &square, &width, &height);
  EXPECT_EQ(width, 1280);  // an explicit aspect ignores the image
}

TEST(FrameSizeFor, UnknownValuesThrow_n) {
  int width = 0, height = 0;
  EXPECT_THROW(frame_size_for("1080p", "16:9", nullptr, &width, &height), std::runtime_error);
  EXPECT_THROW(frame_size_for("720p", "5:4", nullptr, &width, &height), std::runtime_error);
  EXPECT_THROW(frame_size_for("720p", "", nullptr, &width, &height), std::runtime_error);
}

RgbImage gradient_image(int width, int height) {
  RgbImage image = solid_image(width, height, 0, 0, 0);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t *pixel = &image.rgb[(static_cast<size_t>(y) * width + x) * 3];
      pixel[0] = static_cast<uint8_t>(x * 255 / std::max(1, width - 1));
      pixel[1] = static_cast<uint8_t>(y * 255 / std::max(1, height - 1));
      pixel[2] = static_cast<uint8_t>((x * 7 + y * 13) & 0xff);
    }
  }
  return image;
}

TEST(ImageCodec, PngRoundTripIsLossless) {
  const RgbImage original = gradient_image(37, 21);
  const std::vector<uint8_t> png = encode_png(original);
  ASSERT_GE(png.size(), 8u);
  EXPECT_EQ(png[0], 0x89);
  EXPECT_EQ(png[1], 'P');
  EXPECT_EQ(png[2], 'N');
  EXPECT_EQ(png[3], 'G');
  const RgbImage decoded = decode_image(png);
  EXPECT_EQ(decoded.width, 37);
  EXPECT_EQ(decoded.height, 21);
  EXPECT_EQ(decoded.rgb, original.rgb);
}

std::vector<uint8_t> encode_jpeg(const RgbImage &image) {
  const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
  AVCodecContext *encoder = avcodec_alloc_context3(codec);
  encoder->width = image.width;
  encoder->height = image.height;
  encoder->pix_fmt = AV_PIX_FMT_YUVJ420P;
  encoder->time_base = AVRational{1, 1};
  encoder->flags |= AV_CODEC_FLAG_QSCALE;
  encoder->global_quality = FF_QP2LAMBDA * 2;
  avcodec_open2(encoder, codec, nullptr);
  AVFrame *frame = av_frame_alloc();
  frame->width = image.width;
  frame->height = image.height;
  frame->format = AV_PIX_FMT_YUVJ420P;
  av_frame_get_buffer(frame, 0);
  SwsContext *scaler =
      sws_getContext(image.width, image.height, AV_PIX_FMT_RGB24, image.width, image.height,
                     AV_PIX_FMT_YUVJ420P, SWS_BILINEAR, nullptr, nullptr, nullptr);
  const uint8_t *planes[4] = {image.rgb.data(), nullptr, nullptr, nullptr};
  const int strides[4] = {image.width * 3, 0, 0, 0};
  sws_scale(scaler, planes, strides, 0, image.height, frame->data, frame->linesize);
  sws_freeContext(scaler);
  frame->pts = 0;
  avcodec_send_frame(encoder, frame);
  avcodec_send_frame(encoder, nullptr);
  AVPacket *packet = av_packet_alloc();
  std::vector<uint8_t> bytes;
  if (avcodec_receive_packet(encoder, packet) == 0) {
    bytes.assign(packet->data, packet->data + packet->size);
  }
  av_packet_free(&packet);
  av_frame_free(&frame);
  avcodec_free_context(&encoder);
  return bytes;
}

TEST(ImageCodec, JpegDecodesToTheSameColour) {
  const std::vector<uint8_t> jpeg = encode_jpeg(solid_image(40, 30, 180, 90, 30));
  ASSERT_GE(jpeg.size(), 4u);
  EXPECT_EQ(jpeg[0], 0xFF);
  EXPECT_EQ(jpeg[1], 0xD8);
  const RgbImage decoded = decode_image(jpeg);
  EXPECT_EQ(decoded.width, 40);
  EXPECT_EQ(decoded.height, 30);
  double mean[3];
  mean_rgb(decoded.rgb, mean);
  EXPECT_NEAR(mean[0], 180, 6);
  EXPECT_NEAR(mean[1], 90, 6);
  EXPECT_NEAR(mean[2], 30, 6);
}

// A PNG of any pixel format straight from libav, for inputs encode_png does not produce.
std::vector<uint8_t> encode_png_as(int width, int height, AVPixelFormat format, uint8_t fill) {
  const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  AVCodecContext *encoder = avcodec_alloc_context3(codec);
  encoder->width = width;
  encoder->height = height;
  encoder->pix_fmt = format;
  encoder->time_base = AVRational{1, 1};
  avcodec_open2(encoder, codec, nullptr);
  AVFrame *frame = av_frame_alloc();
  frame->width = width;
  frame->height = height;
  frame->format = format;
  av_frame_get_buffer(frame, 0);
  for (int y = 0; y < height; ++y) {
    std::fill_n(frame->data[0] + static_cast<ptrdiff_t>(y) * frame->linesize[0], frame->linesize[0],
                fill);
  }
  frame->pts = 0;
  avcodec_send_frame(encoder, frame);
  avcodec_send_frame(encoder, nullptr);
  AVPacket *packet = av_packet_alloc();
  std::vector<uint8_t> bytes;
  if (avcodec_receive_packet(encoder, packet) == 0) {
    bytes.assign(packet->data, packet->data + packet->size);
  }
  av_packet_free(&packet);
  av_frame_free(&frame);
  avcodec_free_context(&encoder);
  return bytes;
}

TEST(ImageCodec, GrayAndAlphaPngsDecodeToRgb) {
  const RgbImage gray = decode_image(encode_png_as(20, 10, AV_PIX_FMT_GRAY8, 77));
  EXPECT_EQ(gray.width, 20);
  EXPECT_EQ(gray.height, 10);
  ASSERT_EQ(gray.rgb.size(), 20u * 10u * 3u);
  EXPECT_TRUE(std::all_of(gray.rgb.begin(), gray.rgb.end(), [](uint8_t v) { return v == 77; }));

  const RgbImage rgba = decode_image(encode_png_as(16, 16, AV_PIX_FMT_RGBA, 200));
  EXPECT_EQ(rgba.width, 16);
  ASSERT_EQ(rgba.rgb.size(), 16u * 16u * 3u);
  EXPECT_TRUE(std::all_of(rgba.rgb.begin(), rgba.rgb.end(), [](uint8_t v) { return v == 200; }));
}

TEST(ImageCodec, ImageWiderThanTheLimitIsRejected_n) {
  const std::vector<uint8_t> png = encode_png_as(8200, 2, AV_PIX_FMT_GRAY8, 0);
  ASSERT_FALSE(png.empty());
  try {
    decode_image(png);
    FAIL() << "expected decode_image to throw";
  } catch (const std::runtime_error &error) {
    EXPECT_NE(std::string(error.what()).find("out of range"), std::string::npos) << error.what();
  }
}

void expect_not_an_image(const std::vector<uint8_t> &bytes) {
  try {
    decode_image(bytes);
    ADD_FAILURE() << "expected decode_image to throw";
  } catch (const std::runtime_error &error) {
    EXPECT_NE(std::string(error.what()).find("not an image"), std::string::npos) << error.what();
  }
}

TEST(ImageCodec, GarbageIsNotAnImage_n) {
  std::vector<uint8_t> garbage(4096);
  uint32_t state = 12345;
  for (uint8_t &byte : garbage) {
    state = state * 1103515245u + 12345u;
    byte = static_cast<uint8_t>(state >> 16);
  }
  expect_not_an_image(garbage);
  const std::string text = "<html><body>404 not found</body></html>";
  expect_not_an_image(std::vector<uint8_t>(text.begin(), text.end()));
}

TEST(ImageCodec, EmptyBytesAreNotAnImage_n) {
  expect_not_an_image({});
}

TEST(ImageCodec, TruncatedPngIsRejected_n) {
  std::vector<uint8_t> png = encode_png(gradient_image(64, 64));
  png.resize(40);
  EXPECT_THROW(decode_image(png), std::runtime_error);
}

TEST_F(ClipRendererTest, Mp4IsNotAnImage_n) {
  RenderSpec spec = small_spec("not an image");
  spec.duration_s = 0.25;
  render_clip(spec, path("video.mp4"));
  expect_not_an_image(read_bytes(path("video.mp4")));
}

TEST(ImageCodec, InvalidImagesAreRejectedByTheEncoderAndSolidImage_n) {
  EXPECT_THROW(solid_image(0, 10, 0, 0, 0), std::runtime_error);
  EXPECT_THROW(solid_image(10, -1, 0, 0, 0), std::runtime_error);
  RgbImage short_buffer = solid_image(4, 4, 0, 0, 0);
  short_buffer.rgb.pop_back();
  EXPECT_THROW(encode_png(short_buffer), std::runtime_error);
}

}  // namespace
}  // namespace see2ai::dev
