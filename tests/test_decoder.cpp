// Tests for GrowingFile and ClipDecoder: real MP4s rendered with libav at test time, decoded
// through the growing-file AVIOContext and compared frame-exactly with a plain libav decode of the
// file.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "clip_decoder.h"
#include "clip_renderer.h"
#include "devserver_process.h"
#include "growing_file.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

namespace see2ai {
namespace {

using dev::AudioTrack;
using dev::Mp4Layout;
using dev::RenderSpec;

// Bounds for waits that only end early when the code under test is broken; never a speed goal.
constexpr auto kGenerousWait = std::chrono::seconds(30);
constexpr int64_t kSecond = 1000000000;
constexpr int64_t kMillisecond = 1000000;

const std::string &scratch_dir() {
  static const std::string dir = test::make_temp_dir("decoder");
  return dir;
}

std::vector<uint8_t> read_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::string write_bytes(const std::string &name, const std::vector<uint8_t> &bytes) {
  std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  return path;
}

RenderSpec spec_of(int width, int height, int fps, double seconds, AudioTrack audio,
                   int sample_rate, Mp4Layout layout) {
  RenderSpec spec;
  spec.width = width;
  spec.height = height;
  spec.fps_num = fps;
  spec.fps_den = 1;
  spec.duration_s = seconds;
  spec.audio = audio;
  spec.sample_rate = sample_rate;
  spec.layout = layout;
  spec.seed_text = "decoder test " + std::to_string(width) + "x" + std::to_string(height);
  return spec;
}

// Each fixture is rendered once per test run and shared by the tests that need it.
std::string fixture(const std::string &name, const RenderSpec &spec) {
  static std::map<std::string, std::string> rendered;
  auto found = rendered.find(name);
  if (found != rendered.end()) return found->second;
  std::string path = scratch_dir() + "/" + name + ".mp4";
  dev::render_clip(spec, path);
  rendered[name] = path;
  return path;
}

// The clip most tests use: 4 s, small, stereo, index first.
std::string seekable_clip() {
  return fixture("seekable",
                 spec_of(320, 180, 24, 4.0, AudioTrack::Stereo, 48000, Mp4Layout::Faststart));
}

std::shared_ptr<GrowingFile> whole_file(const std::string &path) {
  auto file = std::make_shared<GrowingFile>(path);
  file->finish();
  return file;
}

uint64_t fnv1a(uint64_t hash, const uint8_t *data, size_t size) {
  for (size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 1099511628211ull;
  return hash;
}

// Hashes the visible bytes only: the padding past each row's end differs between decoders.
uint64_t frame_checksum(const AVFrame *frame, bool video) {
  uint64_t hash = 1469598103934665603ull;
  if (video) {
    const auto format = static_cast<AVPixelFormat>(frame->format);
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(format);
    for (int plane = 0; plane < av_pix_fmt_count_planes(format); ++plane) {
      const int row_bytes = av_image_get_linesize(format, frame->width, plane);
      const bool chroma = plane == 1 || plane == 2;
      const int rows = chroma ? AV_CEIL_RSHIFT(frame->height, desc->log2_chroma_h) : frame->height;
      for (int row = 0; row < rows; ++row)
        hash =
            fnv1a(hash, frame->data[plane] + static_cast<ptrdiff_t>(row) * frame->linesize[plane],
                  static_cast<size_t>(row_bytes));
    }
    return hash;
  }
  const auto format = static_cast<AVSampleFormat>(frame->format);
  const int channels = frame->ch_layout.nb_channels;
  const bool planar = av_sample_fmt_is_planar(format);
  const size_t plane_bytes = static_cast<size_t>(frame->nb_samples) *
                             static_cast<size_t>(av_get_bytes_per_sample(format)) *
                             static_cast<size_t>(planar ? 1 : channels);
  for (int plane = 0; plane < (planar ? channels : 1); ++plane)
    hash = fnv1a(hash, frame->extended_data[plane], plane_bytes);
  return hash;
}

struct StreamSummary {
  int64_t frames = 0;
  int64_t samples = 0;
  int64_t first_pts_ns = -1;
  int64_t last_pts_ns = -1;
  int64_t end_ns = 0;
  uint64_t first_checksum = 0;
  uint64_t last_checksum = 0;
  std::map<int64_t, uint64_t> checksum_at;  // video: pts -> picture checksum

  void add(const AVFrame *frame, int64_t pts_ns, int64_t duration_ns, bool video) {
    const uint64_t checksum = frame_checksum(frame, video);
    if (frames == 0) {
      first_pts_ns = pts_ns;
      first_checksum = checksum;
    }
    ++frames;
    if (!video) samples += frame->nb_samples;
    if (video) checksum_at[pts_ns] = checksum;
    last_pts_ns = pts_ns;
    last_checksum = checksum;
    end_ns = pts_ns + duration_ns;
  }
};

struct ClipSummary {
  StreamSummary video;
  StreamSummary audio;
};

ClipSummary summarize(ClipDecoder &decoder) {
  ClipSummary summary;
  while (auto decoded = decoder.next()) {
    const bool video = decoded->kind == StreamKind::Video;
    (video ? summary.video : summary.audio)
        .add(decoded->frame, decoded->pts_ns, decoded->duration_ns, video);
  }
  return summary;
}

struct FormatCloser {
  void operator()(AVFormatContext *format) const { avformat_close_input(&format); }
};
struct CodecFreer {
  void operator()(AVCodecContext *codec) const { avcodec_free_context(&codec); }
};

// The plain libav decode the decoder is checked against: a file path, no custom I/O, one thread,
// the same timestamp rule (best effort timestamp from the stream's start time).
ClipSummary reference_decode(const std::string &path) {
  AVFormatContext *raw = nullptr;
  if (avformat_open_input(&raw, path.c_str(), nullptr, nullptr) < 0)
    throw std::runtime_error("reference: cannot open " + path);
  std::unique_ptr<AVFormatContext, FormatCloser> format(raw);
  if (avformat_find_stream_info(format.get(), nullptr) < 0)
    throw std::runtime_error("reference: no stream info");
  struct Track {
    int index = -1;
    std::unique_ptr<AVCodecContext, CodecFreer> codec;
    StreamSummary *summary = nullptr;
    bool video = false;
  };
  ClipSummary out;
  Track tracks[2];
  tracks[0].index = av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  tracks[1].index = av_find_best_stream(format.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  tracks[0].summary = &out.video;
  tracks[0].video = true;
  tracks[1].summary = &out.audio;
  for (Track &track : tracks) {
    if (track.index < 0) continue;
    const AVCodecParameters *params = format->streams[track.index]->codecpar;
    const AVCodec *codec = avcodec_find_decoder(params->codec_id);
    track.codec.reset(avcodec_alloc_context3(codec));
    avcodec_parameters_to_context(track.codec.get(), params);
    track.codec->pkt_timebase = format->streams[track.index]->time_base;
    track.codec->thread_count = 1;
    if (avcodec_open2(track.codec.get(), codec, nullptr) < 0)
      throw std::runtime_error("reference: cannot open decoder");
  }
  AVPacket *packet = av_packet_alloc();
  AVFrame *frame = av_frame_alloc();
  auto receive = [&](Track &track) {
    const AVStream *stream = format->streams[track.index];
    const int64_t start = stream->start_time == AV_NOPTS_VALUE ? 0 : stream->start_time;
    while (avcodec_receive_frame(track.codec.get(), frame) >= 0) {
      const int64_t pts_ns = av_rescale_q(frame->best_effort_timestamp - start, stream->time_base,
                                          AVRational{1, 1000000000});
      const int64_t duration_ns =
          track.video
              ? av_rescale_q(frame->pkt_duration, stream->time_base, AVRational{1, 1000000000})
              : av_rescale(frame->nb_samples, kSecond, frame->sample_rate);
      track.summary->add(frame, pts_ns, duration_ns, track.video);
      av_frame_unref(frame);
    }
  };
  while (av_read_frame(format.get(), packet) >= 0) {
    for (Track &track : tracks) {
      if (track.index != packet->stream_index) continue;
      avcodec_send_packet(track.codec.get(), packet);
      receive(track);
    }
    av_packet_unref(packet);
  }
  for (Track &track : tracks) {
    if (track.index < 0) continue;
    avcodec_send_packet(track.codec.get(), nullptr);
    receive(track);
  }
  av_frame_free(&frame);
  av_packet_free(&packet);
  return out;
}

void expect_same_stream(const StreamSummary &actual, const StreamSummary &expected,
                        const char *what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(actual.frames, expected.frames);
  EXPECT_EQ(actual.samples, expected.samples);
  EXPECT_EQ(actual.first_pts_ns, expected.first_pts_ns);
  EXPECT_EQ(actual.last_pts_ns, expected.last_pts_ns);
  EXPECT_EQ(actual.first_checksum, expected.first_checksum);
  EXPECT_EQ(actual.last_checksum, expected.last_checksum);
}

void expect_same_output(const ClipSummary &actual, const ClipSummary &expected) {
  expect_same_stream(actual.video, expected.video, "video");
  expect_same_stream(actual.audio, expected.audio, "audio");
}

// After a seek the AAC decoder starts without the preceding frame's overlap and with its noise
// generator at another state, so decoded sound is not bit-identical to a decode from the start
// (pictures are). Sound is compared by timing and sample count.
void expect_same_output_after_seek(const ClipSummary &actual, const ClipSummary &expected) {
  expect_same_stream(actual.video, expected.video, "video");
  SCOPED_TRACE("audio");
  EXPECT_EQ(actual.audio.frames, expected.audio.frames);
  EXPECT_EQ(actual.audio.samples, expected.audio.samples);
  EXPECT_EQ(actual.audio.first_pts_ns, expected.audio.first_pts_ns);
  EXPECT_EQ(actual.audio.last_pts_ns, expected.audio.last_pts_ns);
}

// ---------------------------------------------------------------------------------------------
// GrowingFile

TEST(GrowingFile, ReadWaitsForBytesAtTheOffsetThenGivesWhatIsThere) {
  const std::string path = scratch_dir() + "/growing-wait.bin";
  std::FILE *out = std::fopen(path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  GrowingFile file(path);
  auto reader = std::async(std::launch::async, [&] {
    uint8_t buffer[6] = {};
    int64_t got = file.read_at(4, buffer, sizeof(buffer));
    return std::make_pair(got, std::string(reinterpret_cast<char *>(buffer), got > 0 ? got : 0));
  });
  std::fputs("abcd", out);
  std::fflush(out);
  file.advance(4);
  EXPECT_EQ(reader.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout)
      << "returned before any byte at the offset was written";
  std::fputs("efg", out);
  std::fflush(out);
  file.advance(7);
  ASSERT_EQ(reader.wait_for(kGenerousWait), std::future_status::ready);
  auto [got, text] = reader.get();
  EXPECT_EQ(got, 3);
  EXPECT_EQ(text, "efg");
  std::fclose(out);
}

TEST(GrowingFile, FinishedFileGivesShortReadThenZero) {
  const std::string path = write_bytes("growing-short.bin", {1, 2, 3, 4, 5});
  GrowingFile file(path);
  file.finish();
  uint8_t buffer[8] = {};
  EXPECT_EQ(file.read_at(3, buffer, sizeof(buffer)), 2);
  EXPECT_EQ(buffer[0], 4);
  EXPECT_EQ(buffer[1], 5);
  EXPECT_EQ(file.read_at(5, buffer, sizeof(buffer)), 0);
  EXPECT_EQ(file.read_at(100, buffer, sizeof(buffer)), 0);
  EXPECT_TRUE(file.complete());
  EXPECT_EQ(file.known_size(), std::optional<uint64_t>(5));
}

TEST(GrowingFile, OpensAFileCreatedAfterConstruction) {
  const std::string path = scratch_dir() + "/growing-late.bin";
  std::remove(path.c_str());
  GrowingFile file(path);
  write_bytes("growing-late.bin", {9, 8, 7});
  file.advance(3);
  uint8_t buffer[3] = {};
  EXPECT_EQ(file.read_at(0, buffer, sizeof(buffer)), 3);
  EXPECT_EQ(buffer[2], 7);
}

TEST(GrowingFile, AdvanceNeverGoesBack) {
  const std::string path = write_bytes("growing-monotonic.bin", std::vector<uint8_t>(100, 1));
  GrowingFile file(path);
  file.advance(100);
  file.advance(50);
  auto reader = std::async(std::launch::async, [&] {
    uint8_t buffer[100] = {};
    return file.read_at(0, buffer, sizeof(buffer));
  });
  const bool ready = reader.wait_for(kGenerousWait) == std::future_status::ready;
  file.cancel();
  EXPECT_TRUE(ready);
  EXPECT_EQ(reader.get(), 100);
}

TEST(GrowingFile, KnownSizeComesFromExpectedThenFinish) {
  const std::string path = write_bytes("growing-size.bin", std::vector<uint8_t>(10, 0));
  GrowingFile file(path);
  EXPECT_FALSE(file.known_size().has_value());
  file.set_expected_size(10);
  EXPECT_EQ(file.known_size(), std::optional<uint64_t>(10));
  EXPECT_FALSE(file.complete());
  file.finish();
  EXPECT_EQ(file.known_size(), std::optional<uint64_t>(10));
}

TEST(GrowingFile, CancelWakesWaitingReadersAndResetAllowsReading_n) {
  const std::string path = write_bytes("growing-cancel.bin", {1, 2, 3, 4});
  GrowingFile file(path);
  auto reader = std::async(std::launch::async, [&] {
    uint8_t buffer[4] = {};
    return file.read_at(0, buffer, sizeof(buffer));
  });
  auto completer = std::async(std::launch::async, [&] { return file.wait_complete(); });
  file.cancel();
  ASSERT_EQ(reader.wait_for(kGenerousWait), std::future_status::ready);
  ASSERT_EQ(completer.wait_for(kGenerousWait), std::future_status::ready);
  EXPECT_EQ(reader.get(), -1);
  EXPECT_FALSE(completer.get());
  EXPECT_TRUE(file.cancelled());
  EXPECT_EQ(file.error(), "cancelled");

  file.reset_cancel();
  file.advance(4);
  uint8_t buffer[4] = {};
  EXPECT_EQ(file.read_at(0, buffer, sizeof(buffer)), 4);
  EXPECT_EQ(file.error(), "");
}

TEST(GrowingFile, FailWakesReadersWithTheReason_n) {
  const std::string path = write_bytes("growing-fail.bin", {1, 2});
  GrowingFile file(path);
  auto reader = std::async(std::launch::async, [&] {
    uint8_t buffer[4] = {};
    return file.read_at(0, buffer, sizeof(buffer));
  });
  file.fail("connection reset after 2 bytes");
  ASSERT_EQ(reader.wait_for(kGenerousWait), std::future_status::ready);
  EXPECT_EQ(reader.get(), -1);
  EXPECT_EQ(file.error(), "connection reset after 2 bytes");
  EXPECT_FALSE(file.wait_complete());
}

TEST(GrowingFile, WaitCompleteReturnsOnceFinished) {
  const std::string path = write_bytes("growing-complete.bin", {1});
  GrowingFile file(path);
  auto completer = std::async(std::launch::async, [&] { return file.wait_complete(); });
  file.advance(1);
  file.finish();
  ASSERT_EQ(completer.wait_for(kGenerousWait), std::future_status::ready);
  EXPECT_TRUE(completer.get());
}

// ---------------------------------------------------------------------------------------------
// ClipDecoder: every kind of clip the service may return, frame-exact against plain libav.

struct ClipCase {
  const char *name;
  RenderSpec spec;
};

std::ostream &operator<<(std::ostream &out, const ClipCase &clip) {
  return out << clip.name;
}

class ClipDecoderMatrix : public ::testing::TestWithParam<ClipCase> {};

TEST_P(ClipDecoderMatrix, MatchesPlainLibavDecode) {
  const ClipCase &clip = GetParam();
  const RenderSpec &spec = clip.spec;
  const std::string path = fixture(clip.name, spec);
  ClipDecoder decoder(whole_file(path), 2);

  const ClipInfo &info = decoder.info();
  ASSERT_TRUE(info.video.has_value());
  EXPECT_EQ(info.video->width, spec.width);
  EXPECT_EQ(info.video->height, spec.height);
  EXPECT_EQ(info.video->pixel_format, AV_PIX_FMT_YUV420P);
  EXPECT_EQ(info.video->fps_num * spec.fps_den, spec.fps_num * info.video->fps_den);
  EXPECT_EQ(info.video->par_num, 1);
  EXPECT_EQ(info.video->par_den, 1);
  EXPECT_EQ(info.video->codec_name, "h264");
  EXPECT_EQ(info.container, "QuickTime / MOV");
  EXPECT_EQ(info.audio.has_value(), spec.audio != AudioTrack::None);
  if (info.audio) {
    EXPECT_EQ(info.audio->sample_rate, spec.sample_rate);
    EXPECT_EQ(info.audio->channels, spec.audio == AudioTrack::Stereo ? 2 : 1);
    EXPECT_EQ(info.audio->channel_mask, spec.audio == AudioTrack::Stereo
                                            ? uint64_t{AV_CH_LAYOUT_STEREO}
                                            : uint64_t{AV_CH_LAYOUT_MONO});
    EXPECT_EQ(info.audio->codec_name, "aac");
  }
  // A whole file always has its length, a fragmented one (no length in its header) too.
  const int64_t frame_ns = av_rescale(kSecond, spec.fps_den, spec.fps_num);
  EXPECT_NEAR(static_cast<double>(info.duration_ns), spec.duration_s * kSecond,
              static_cast<double>(frame_ns));

  const ClipSummary actual = summarize(decoder);
  const ClipSummary expected = reference_decode(path);
  expect_same_output(actual, expected);

  const int64_t frames = std::llround(spec.duration_s * spec.fps_num / spec.fps_den);
  EXPECT_EQ(actual.video.frames, frames);
  EXPECT_EQ(actual.video.first_pts_ns, 0);
  EXPECT_NEAR(static_cast<double>(actual.video.last_pts_ns),
              static_cast<double>(av_rescale(frames - 1, kSecond * spec.fps_den, spec.fps_num)),
              1e6);
  if (spec.audio != AudioTrack::None) {
    EXPECT_NEAR(static_cast<double>(actual.audio.first_pts_ns), 0.0, 1e6);
    EXPECT_NEAR(static_cast<double>(actual.audio.end_ns), static_cast<double>(actual.video.end_ns),
                static_cast<double>(frame_ns));
  } else {
    EXPECT_EQ(actual.audio.frames, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Clips, ClipDecoderMatrix,
    ::testing::Values(
        ClipCase{"hd_720p_24fps_faststart_mono44k",
                 spec_of(1280, 720, 24, 1.0, AudioTrack::Mono, 44100, Mp4Layout::Faststart)},
        ClipCase{"sd_854x480_25fps_moov_at_end_stereo48k",
                 spec_of(854, 480, 25, 1.0, AudioTrack::Stereo, 48000, Mp4Layout::MoovAtEnd)},
        ClipCase{"portrait_720x1280_30fps_fragmented_silent",
                 spec_of(720, 1280, 30, 1.0, AudioTrack::None, 48000, Mp4Layout::Fragmented)},
        ClipCase{"square_960x960_24fps_faststart_stereo48k",
                 spec_of(960, 960, 24, 1.0, AudioTrack::Stereo, 48000, Mp4Layout::Faststart)},
        ClipCase{"odd_1248x704_25fps_faststart_silent",
                 spec_of(1248, 704, 25, 1.0, AudioTrack::None, 48000, Mp4Layout::Faststart)},
        ClipCase{"odd_1470x630_30fps_moov_at_end_mono48k",
                 spec_of(1470, 630, 30, 1.0, AudioTrack::Mono, 48000, Mp4Layout::MoovAtEnd)},
        ClipCase{"fragmented_320x180_24fps_stereo48k",
                 spec_of(320, 180, 24, 2.0, AudioTrack::Stereo, 48000, Mp4Layout::Fragmented)},
        ClipCase{"long_15s_320x180_24fps_mono48k",
                 spec_of(320, 180, 24, 15.0, AudioTrack::Mono, 48000, Mp4Layout::Faststart)}),
    [](const ::testing::TestParamInfo<ClipCase> &param) { return std::string(param.param.name); });

TEST(ClipDecoder, MarksTheFirstFrameOfEachStreamDiscontinuous) {
  ClipDecoder decoder(whole_file(seekable_clip()));
  int video_frames = 0, audio_frames = 0;
  while (auto decoded = decoder.next()) {
    int &count = decoded->kind == StreamKind::Video ? video_frames : audio_frames;
    EXPECT_EQ(decoded->discont, count == 0);
    EXPECT_GT(decoded->duration_ns, 0);
    ++count;
  }
  EXPECT_GT(video_frames, 0);
  EXPECT_GT(audio_frames, 0);
}

// ---------------------------------------------------------------------------------------------
// Progressive: decoding while the file is still being written.

// Copies `source` into `target` chunk by chunk, announcing each chunk to `file`. Holds back the
// second half until the reader says it has a frame (bounded, so a broken reader fails, not hangs).
class ChunkedWriter {
 public:
  ChunkedWriter(std::vector<uint8_t> source, std::string target, std::shared_ptr<GrowingFile> file,
                bool hold_back_second_half)
      : source_(std::move(source)),
        target_(std::move(target)),
        file_(std::move(file)),
        hold_back_(hold_back_second_half) {
    thread_ = std::thread([this] { run(); });
  }
  ~ChunkedWriter() {
    reader_has_frame();
    thread_.join();
  }
  void reader_has_frame() {
    std::lock_guard<std::mutex> lock(mutex_);
    reader_has_frame_ = true;
    cond_.notify_all();
  }
  uint64_t written() const { return written_; }
  uint64_t total() const { return source_.size(); }

 private:
  void run() {
    constexpr size_t kChunk = 8 * 1024;
    std::FILE *out = std::fopen(target_.c_str(), "wb");
    if (!out) {
      file_->fail("cannot create " + target_);
      return;
    }
    for (size_t offset = 0; offset < source_.size(); offset += kChunk) {
      if (hold_back_ && offset >= source_.size() / 2) {
        std::unique_lock<std::mutex> lock(mutex_);
        cond_.wait_for(lock, kGenerousWait, [this] { return reader_has_frame_; });
      }
      const size_t size = std::min(kChunk, source_.size() - offset);
      std::fwrite(source_.data() + offset, 1, size, out);
      std::fflush(out);
      written_ = offset + size;
      file_->advance(written_);
      std::this_thread::yield();
    }
    std::fclose(out);
    file_->finish();
  }

  std::vector<uint8_t> source_;
  std::string target_;
  std::shared_ptr<GrowingFile> file_;
  bool hold_back_;
  std::atomic<uint64_t> written_{0};
  std::mutex mutex_;
  std::condition_variable cond_;
  bool reader_has_frame_ = false;
  std::thread thread_;
};

struct ProgressiveResult {
  ClipSummary summary;
  int64_t duration_ns = 0;
  uint64_t written_at_first_frame = 0;
  uint64_t total = 0;
};

ProgressiveResult decode_while_writing(const std::string &source, const std::string &name,
                                       bool announce_size, bool hold_back) {
  const std::string target = scratch_dir() + "/" + name;
  std::remove(target.c_str());
  std::vector<uint8_t> bytes = read_bytes(source);
  auto file = std::make_shared<GrowingFile>(target);
  if (announce_size) file->set_expected_size(bytes.size());
  ProgressiveResult result;
  ChunkedWriter writer(std::move(bytes), target, file, hold_back);
  result.total = writer.total();
  ClipDecoder decoder(file);
  result.duration_ns = decoder.info().duration_ns;
  while (auto decoded = decoder.next()) {
    if (result.summary.video.frames + result.summary.audio.frames == 0) {
      result.written_at_first_frame = writer.written();
      writer.reader_has_frame();
    }
    const bool video = decoded->kind == StreamKind::Video;
    (video ? result.summary.video : result.summary.audio)
        .add(decoded->frame, decoded->pts_ns, decoded->duration_ns, video);
  }
  return result;
}

TEST(ClipDecoderProgressive, IndexFirstClipsDecodeBeforeTheDownloadEnds) {
  const std::pair<const char *, std::string> sources[] = {
      {"faststart", seekable_clip()},
      {"fragmented",
       fixture("progressive_fragmented",
               spec_of(320, 180, 24, 4.0, AudioTrack::Stereo, 48000, Mp4Layout::Fragmented))}};
  for (const auto &[layout, source] : sources) {
    for (bool announce_size : {true, false}) {
      const std::string name =
          std::string("progressive-") + layout + (announce_size ? "-sized" : "-unsized") + ".mp4";
      SCOPED_TRACE(name);
      ProgressiveResult result = decode_while_writing(source, name, announce_size, true);
      // Unknown is the honest answer for a fragmented clip still downloading; a wrong one is not.
      if (result.duration_ns != -1) {
        EXPECT_NEAR(result.duration_ns, 4 * kSecond, kSecond / 24);
      }
      EXPECT_LT(result.written_at_first_frame, result.total);
      expect_same_output(result.summary, reference_decode(source));
    }
  }
}

TEST(ClipDecoderProgressive, MoovAtEndWaitsForTheWholeFile) {
  const std::string source =
      fixture("moov_at_end_320x180",
              spec_of(320, 180, 24, 2.0, AudioTrack::Mono, 48000, Mp4Layout::MoovAtEnd));
  for (bool announce_size : {true, false}) {
    SCOPED_TRACE(announce_size ? "size announced" : "size unknown");
    ProgressiveResult result =
        decode_while_writing(source, announce_size ? "moov-end-sized.mp4" : "moov-end-unsized.mp4",
                             announce_size, false);
    EXPECT_EQ(result.written_at_first_frame, result.total);
    expect_same_output(result.summary, reference_decode(source));
  }
}

// ---------------------------------------------------------------------------------------------
// Cancel

TEST(ClipDecoderCancel, OpenBlockedOnMissingBytesReturnsAfterCancel_n) {
  auto file = std::make_shared<GrowingFile>(scratch_dir() + "/never-written.mp4");
  auto opener = std::async(std::launch::async, [file]() -> std::optional<MediaError> {
    try {
      ClipDecoder decoder(file);
    } catch (const MediaError &error) {
      return error;
    }
    return std::nullopt;
  });
  EXPECT_EQ(opener.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout)
      << "opening did not wait for bytes";
  file->cancel();
  ASSERT_EQ(opener.wait_for(kGenerousWait), std::future_status::ready);
  std::optional<MediaError> error = opener.get();
  ASSERT_TRUE(error.has_value());
  EXPECT_FALSE(error->decode);
  EXPECT_STREQ(error->what(), "cancelled");
}

TEST(ClipDecoderCancel, NextBlockedMidClipReturnsAfterCancelAndSeekResumes) {
  const std::string source = seekable_clip();
  const std::vector<uint8_t> bytes = read_bytes(source);
  auto file = std::make_shared<GrowingFile>(write_bytes("cancel-mid.mp4", bytes));
  file->set_expected_size(bytes.size());
  file->advance(bytes.size() / 2);
  struct Outcome {
    std::unique_ptr<ClipDecoder> decoder;
    int64_t frames = 0;
    std::optional<MediaError> error;
  };
  // Opening happens on the worker too, so a decoder that wrongly waits never blocks the test.
  auto worker = std::async(std::launch::async, [file] {
    Outcome outcome;
    try {
      outcome.decoder = std::make_unique<ClipDecoder>(file);
      while (outcome.decoder->next()) ++outcome.frames;
    } catch (const MediaError &error) {
      outcome.error = error;
    }
    return outcome;
  });
  EXPECT_EQ(worker.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout)
      << "decoding ended although half the file is missing";
  file->cancel();
  ASSERT_EQ(worker.wait_for(kGenerousWait), std::future_status::ready);
  Outcome outcome = worker.get();
  ASSERT_TRUE(outcome.error.has_value());
  EXPECT_STREQ(outcome.error->what(), "cancelled");
  ASSERT_TRUE(outcome.decoder) << "opening needed more than half of a faststart clip";
  EXPECT_GT(outcome.frames, 0);
  EXPECT_TRUE(outcome.decoder->cancelled());

  file->reset_cancel();
  file->advance(bytes.size());
  file->finish();
  outcome.decoder->seek(0, true);
  expect_same_output_after_seek(summarize(*outcome.decoder), reference_decode(source));
}

// ---------------------------------------------------------------------------------------------
// Seek

// What a decoder gives from where it is to the end: the first picture and sound, and the count of
// pictures.
struct RestOfClip {
  std::optional<DecodedFrame> first_video, first_audio;
  int64_t video_frames = 0;
};

RestOfClip decode_rest(ClipDecoder &decoder) {
  RestOfClip rest;
  while (auto decoded = decoder.next()) {
    if (decoded->kind == StreamKind::Video) {
      ++rest.video_frames;
      if (!rest.first_video) rest.first_video = std::move(decoded);
    } else if (!rest.first_audio) {
      rest.first_audio = std::move(decoded);
    }
  }
  return rest;
}

TEST(ClipDecoderSeek, AccurateSeekStartsAtTheTarget) {
  const std::string path = seekable_clip();
  const ClipSummary reference = reference_decode(path);
  ClipDecoder decoder(whole_file(path));
  // 2.52 s falls inside the frame shown from 2.5 s (frame 60 at 24 fps).
  const int64_t target = 2520 * kMillisecond;
  decoder.seek(target, true);
  auto [first_video, first_audio, video_frames] = decode_rest(decoder);
  ASSERT_TRUE(first_video && first_audio);
  EXPECT_EQ(first_video->pts_ns, 2500 * kMillisecond);
  EXPECT_TRUE(first_video->discont);
  EXPECT_EQ(frame_checksum(first_video->frame, true),
            reference.video.checksum_at.at(2500 * kMillisecond));
  EXPECT_EQ(video_frames, reference.video.frames - 60);
  EXPECT_NEAR(static_cast<double>(first_audio->pts_ns), static_cast<double>(target),
              kSecond / 48000.0);
  EXPECT_TRUE(first_audio->discont);
  EXPECT_NEAR(static_cast<double>(first_audio->duration_ns),
              static_cast<double>(av_rescale(first_audio->frame->nb_samples, kSecond, 48000)), 1.0);
}

TEST(ClipDecoderSeek, KeyUnitSeekStartsAtAKeyFrameBeforeTheTarget) {
  const std::string path = seekable_clip();
  const ClipSummary reference = reference_decode(path);
  ClipDecoder decoder(whole_file(path));
  const int64_t target = 2520 * kMillisecond;
  decoder.seek(target, false);
  std::optional<DecodedFrame> first_video;
  while (auto decoded = decoder.next()) {
    if (decoded->kind == StreamKind::Video) {
      first_video = std::move(decoded);
      break;
    }
  }
  ASSERT_TRUE(first_video);
  EXPECT_LE(first_video->pts_ns, target);
  EXPECT_TRUE(first_video->frame->key_frame);
  EXPECT_TRUE(first_video->discont);
  ASSERT_EQ(reference.video.checksum_at.count(first_video->pts_ns), 1u);
  EXPECT_EQ(frame_checksum(first_video->frame, true),
            reference.video.checksum_at.at(first_video->pts_ns));
}

TEST(ClipDecoderSeek, SeekToKeyFrameSaysWhereAndStartsBothStreamsThere) {
  const std::string path = seekable_clip();
  const ClipSummary reference = reference_decode(path);
  ClipDecoder decoder(whole_file(path));
  // Key frames every second (the renderer's GOP is one second): 2.52 s snaps to 2 s.
  EXPECT_EQ(decoder.seek_to_key_frame(2520 * kMillisecond), 2 * kSecond);
  auto [first_video, first_audio, video_frames] = decode_rest(decoder);
  ASSERT_TRUE(first_video && first_audio);
  EXPECT_EQ(first_video->pts_ns, 2 * kSecond);
  EXPECT_TRUE(first_video->frame->key_frame);
  EXPECT_EQ(frame_checksum(first_video->frame, true), reference.video.checksum_at.at(2 * kSecond));
  EXPECT_EQ(video_frames, reference.video.frames - 48);
  EXPECT_NEAR(static_cast<double>(first_audio->pts_ns), static_cast<double>(2 * kSecond),
              kSecond / 48000.0);
}

TEST(ClipDecoderSeek, AccurateSeekPastTheEndGivesNothing) {
  ClipDecoder decoder(whole_file(seekable_clip()));
  decoder.seek(10 * kSecond, true);
  EXPECT_FALSE(decoder.next().has_value());
  EXPECT_FALSE(decoder.next().has_value());
}

TEST(ClipDecoderSeek, SeekBackToStartAfterTheEndRepeatsTheOutput) {
  const std::string path = seekable_clip();
  ClipDecoder decoder(whole_file(path));
  const ClipSummary first = summarize(decoder);
  decoder.seek(0, true);
  expect_same_output_after_seek(summarize(decoder), first);
  expect_same_output(first, reference_decode(path));
}

TEST(ClipDecoderSeek, AccurateSeekInFragmentedAndMoovAtEndClips) {
  for (Mp4Layout layout : {Mp4Layout::Fragmented, Mp4Layout::MoovAtEnd}) {
    const std::string name =
        layout == Mp4Layout::Fragmented ? "seek_fragmented" : "seek_moov_at_end";
    SCOPED_TRACE(name);
    const std::string path =
        fixture(name, spec_of(320, 180, 25, 3.0, AudioTrack::Mono, 48000, layout));
    const ClipSummary reference = reference_decode(path);
    ClipDecoder decoder(whole_file(path));
    decoder.seek(2 * kSecond, true);
    std::optional<DecodedFrame> decoded = decoder.next();
    while (decoded && decoded->kind != StreamKind::Video) decoded = decoder.next();
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->pts_ns, 2 * kSecond);
    EXPECT_EQ(frame_checksum(decoded->frame, true), reference.video.checksum_at.at(2 * kSecond));
  }
}

TEST(ClipDecoderSeek, ClipOpenedWhileDownloadingSeeksOnceItIsThere) {
  const std::pair<const char *, RenderSpec> layouts[] = {
      {"streamed_seek_faststart",
       spec_of(320, 180, 25, 3.0, AudioTrack::Mono, 48000, Mp4Layout::Faststart)},
      {"seek_fragmented",
       spec_of(320, 180, 25, 3.0, AudioTrack::Mono, 48000, Mp4Layout::Fragmented)},
      {"seek_moov_at_end",
       spec_of(320, 180, 25, 3.0, AudioTrack::Mono, 48000, Mp4Layout::MoovAtEnd)}};
  for (const auto &[name, spec] : layouts) {
    SCOPED_TRACE(name);
    const std::string path = fixture(name, spec);
    const ClipSummary reference = reference_decode(path);
    const std::vector<uint8_t> bytes = read_bytes(path);
    auto file = std::make_shared<GrowingFile>(path);
    // Everything written but the download not declared finished: opened as a stream.
    file->advance(bytes.size());
    ClipDecoder decoder(file);
    file->finish();
    for (int64_t target : {2 * kSecond, 480 * kMillisecond, int64_t{0}}) {
      decoder.seek(target, true);
      std::optional<DecodedFrame> decoded = decoder.next();
      while (decoded && decoded->kind != StreamKind::Video) decoded = decoder.next();
      ASSERT_TRUE(decoded) << "no picture after seeking to " << target;
      EXPECT_EQ(decoded->pts_ns, target);
      EXPECT_EQ(frame_checksum(decoded->frame, true), reference.video.checksum_at.at(target));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bad media: one MediaError that says what is wrong, with the right demux/decode flag.

MediaError open_and_decode_expecting_error(const std::string &path) {
  try {
    ClipDecoder decoder(whole_file(path));
    while (decoder.next()) {
    }
  } catch (const MediaError &error) {
    return error;
  }
  ADD_FAILURE() << "no MediaError for " << path;
  return MediaError(false, "");
}

// Offset of the first top-level atom of `type`, and its size.
std::pair<size_t, size_t> find_atom(const std::vector<uint8_t> &bytes, const char *type) {
  size_t offset = 0;
  while (offset + 8 <= bytes.size()) {
    const size_t size = (size_t{bytes[offset]} << 24) | (size_t{bytes[offset + 1]} << 16) |
                        (size_t{bytes[offset + 2]} << 8) | bytes[offset + 3];
    if (std::equal(type, type + 4, bytes.begin() + static_cast<ptrdiff_t>(offset + 4)))
      return {offset, size};
    if (size < 8) break;
    offset += size;
  }
  throw std::runtime_error(std::string("no top-level atom ") + type);
}

TEST(ClipDecoderBadMedia, ZeroBytesIsADemuxError_n) {
  MediaError error = open_and_decode_expecting_error(write_bytes("zero.mp4", {}));
  EXPECT_FALSE(error.decode);
  EXPECT_NE(std::string(error.what()).find("empty"), std::string::npos) << error.what();
}

TEST(ClipDecoderBadMedia, HtmlPageIsADemuxError_n) {
  const std::string page =
      "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
      "<body><h1>502 Bad Gateway</h1><p>The upstream server did not answer.</p></body></html>\n";
  MediaError error =
      open_and_decode_expecting_error(write_bytes("page.mp4", {page.begin(), page.end()}));
  EXPECT_FALSE(error.decode);
  EXPECT_NE(std::string(error.what()).find("web page"), std::string::npos) << error.what();
}

TEST(ClipDecoderBadMedia, TruncatedMoovAtEndFileIsADemuxError_n) {
  std::vector<uint8_t> bytes =
      read_bytes(fixture("moov_at_end_320x180", spec_of(320, 180, 24, 2.0, AudioTrack::Mono, 48000,
                                                        Mp4Layout::MoovAtEnd)));
  bytes.resize(bytes.size() / 2);
  MediaError error = open_and_decode_expecting_error(write_bytes("truncated.mp4", bytes));
  EXPECT_FALSE(error.decode);
  EXPECT_NE(std::string(error.what()).find("moov"), std::string::npos) << error.what();
}

TEST(ClipDecoderBadMedia, TruncatedFaststartFileIsADemuxError_n) {
  std::vector<uint8_t> bytes = read_bytes(seekable_clip());
  bytes.resize(bytes.size() * 6 / 10);
  MediaError error = open_and_decode_expecting_error(write_bytes("truncated-faststart.mp4", bytes));
  EXPECT_FALSE(error.decode);
  EXPECT_NE(std::string(error.what()).find("truncated"), std::string::npos) << error.what();
}

TEST(ClipDecoderBadMedia, UnknownVideoCodecIsADecodeError_n) {
  std::vector<uint8_t> bytes = read_bytes(seekable_clip());
  auto [moov_offset, moov_size] = find_atom(bytes, "moov");
  const auto moov_begin = bytes.begin() + static_cast<ptrdiff_t>(moov_offset);
  const char avc1[] = "avc1";
  auto sample_entry =
      std::search(moov_begin, moov_begin + static_cast<ptrdiff_t>(moov_size), avc1, avc1 + 4);
  ASSERT_NE(sample_entry, moov_begin + static_cast<ptrdiff_t>(moov_size));
  std::copy_n("zzzz", 4, sample_entry);
  MediaError error = open_and_decode_expecting_error(write_bytes("unknown-codec.mp4", bytes));
  EXPECT_TRUE(error.decode) << error.what();
  EXPECT_NE(std::string(error.what()).find("zzzz"), std::string::npos) << error.what();
}

TEST(ClipDecoderBadMedia, MissingMoovIsADemuxError_n) {
  std::vector<uint8_t> bytes = read_bytes(seekable_clip());
  auto [offset, size] = find_atom(bytes, "moov");
  bytes.erase(bytes.begin() + static_cast<ptrdiff_t>(offset),
              bytes.begin() + static_cast<ptrdiff_t>(offset + size));
  MediaError error = open_and_decode_expecting_error(write_bytes("no-moov.mp4", bytes));
  EXPECT_FALSE(error.decode);
  EXPECT_NE(std::string(error.what()).find("moov"), std::string::npos) << error.what();
}

TEST(ClipDecoderBadMedia, RandomBytesAfterAValidHeaderIsADecodeError_n) {
  std::vector<uint8_t> bytes = read_bytes(seekable_clip());
  // Keep at least 4 KiB and the whole index, so the container is valid and only the coded data
  // (the mdat payload) is noise.
  auto [mdat_offset, mdat_size] = find_atom(bytes, "mdat");
  (void)mdat_size;
  const size_t keep = std::max<size_t>(4096, mdat_offset + 8);
  std::mt19937 random(20261124);
  for (size_t i = keep; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(random());
  MediaError error = open_and_decode_expecting_error(write_bytes("noise.mp4", bytes));
  EXPECT_TRUE(error.decode) << error.what();
  EXPECT_NE(std::string(error.what()).find("cannot be decoded"), std::string::npos) << error.what();
}

// A replayable, seeded stand-in for fuzzing the demux-and-decode path: damaged copies of a real
// clip (bit flips in the index or the coded data, cuts) must each end in frames or in one
// MediaError with a message: never another exception, a crash or a hang.
TEST(ClipDecoderBadMedia, DamagedClipsEndInFramesOrAMediaError_n) {
  const std::vector<uint8_t> bytes = read_bytes(fixture(
      "damage_source", spec_of(160, 90, 24, 1.0, AudioTrack::Mono, 48000, Mp4Layout::Faststart)));
  auto [mdat_offset, mdat_size] = find_atom(bytes, "mdat");
  (void)mdat_size;
  std::mt19937 random(424242);
  int decoded = 0, rejected = 0;
  constexpr int kRounds = 200;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<uint8_t> damaged = bytes;
    // Even rounds damage the header (ftyp + moov), odd rounds the coded data.
    const size_t begin = round % 2 == 0 ? 0 : mdat_offset;
    const size_t end = round % 2 == 0 ? mdat_offset : damaged.size();
    const int flips = 1 + static_cast<int>(random() % 8);
    for (int i = 0; i < flips; ++i)
      damaged[begin + random() % (end - begin)] ^= static_cast<uint8_t>(1u << (random() % 8));
    if (round % 5 == 0) damaged.resize(damaged.size() - random() % (damaged.size() / 2));
    const std::string path = write_bytes("damaged.mp4", damaged);
    try {
      ClipDecoder decoder(whole_file(path));
      while (decoder.next()) {
      }
      ++decoded;
    } catch (const MediaError &error) {
      EXPECT_GT(std::strlen(error.what()), 10u) << "round " << round;
      ++rejected;
    }
  }
  EXPECT_EQ(decoded + rejected, kRounds);
  EXPECT_GT(rejected, 0);
}

TEST(ClipDecoderBadMedia, FailedDownloadIsADemuxErrorNamingTheCause_n) {
  const std::vector<uint8_t> bytes = read_bytes(seekable_clip());
  auto file = std::make_shared<GrowingFile>(write_bytes("failed-download.mp4", bytes));
  file->advance(bytes.size() / 2);
  ClipDecoder decoder(file);
  file->fail("the server closed the connection after 50%");
  try {
    while (decoder.next()) {
    }
    ADD_FAILURE() << "no MediaError";
  } catch (const MediaError &error) {
    EXPECT_FALSE(error.decode);
    EXPECT_NE(std::string(error.what()).find("closed the connection"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace see2ai
