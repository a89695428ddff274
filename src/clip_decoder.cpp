#include "clip_decoder.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <new>

#include "growing_file.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/intreadwrite.h>
#include <libavutil/mathematics.h>
}

namespace see2ai {

namespace {

constexpr AVRational kNanoseconds{1, 1000000000};
constexpr int kIoBufferSize = 64 * 1024;
// Bounded probing: opening must not read the whole clip, only the index and a few packets.
constexpr int64_t kProbeBytes = 4 * 1024 * 1024;
constexpr int64_t kAnalyzeMicroseconds = 1000000;
// A stream whose decoder fails this many packets in a row, with no good frame between, is
// garbage rather than a glitch.
constexpr int kMaxConsecutiveDecodeErrors = 8;
constexpr const char *kMp4DemuxerName = "mov,mp4,m4a,3gp,3g2,mj2";

std::string av_error_text(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof(text));
  return text;
}

struct IoContextDeleter {
  void operator()(AVIOContext *io) const {
    // libav may have replaced the buffer we allocated, so free whatever it holds now.
    av_freep(&io->buffer);
    avio_context_free(&io);
  }
};
struct FormatContextDeleter {
  void operator()(AVFormatContext *format) const { avformat_close_input(&format); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext *codec) const { avcodec_free_context(&codec); }
};
struct PacketDeleter {
  void operator()(AVPacket *packet) const { av_packet_free(&packet); }
};
struct FrameDeleter {
  void operator()(AVFrame *frame) const { av_frame_free(&frame); }
};

using IoContextPtr = std::unique_ptr<AVIOContext, IoContextDeleter>;
using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;

const char *track_name(StreamKind kind) {
  return kind == StreamKind::Video ? "video" : "audio";
}

bool is_valid(AVRational rate) {
  return rate.num > 0 && rate.den > 0;
}

// Decoding state of one selected stream. A stream the clip does not have stays `drained`.
struct StreamDecoder {
  explicit StreamDecoder(StreamKind k) : kind(k) {}
  StreamKind kind;
  int index = -1;
  AVStream *stream = nullptr;
  CodecContextPtr codec;
  int64_t start_pts = 0;  // stream time base; output timestamps count from here
  int64_t fallback_duration_ns = 0;
  bool drained = true;
  bool flush_sent = false;
  bool discont = true;
  int consecutive_errors = 0;
  int64_t packets_sent = 0;
  int64_t frames_decoded = 0;
  int64_t next_pts_ns = 0;  // for frames that come without a timestamp
};

}  // namespace

DecodedFrame::DecodedFrame(DecodedFrame &&other) noexcept
    : kind(other.kind),
      frame(other.frame),
      pts_ns(other.pts_ns),
      duration_ns(other.duration_ns),
      discont(other.discont) {
  other.frame = nullptr;
}

DecodedFrame &DecodedFrame::operator=(DecodedFrame &&other) noexcept {
  if (this != &other) {
    av_frame_free(&frame);
    kind = other.kind;
    frame = other.frame;
    pts_ns = other.pts_ns;
    duration_ns = other.duration_ns;
    discont = other.discont;
    other.frame = nullptr;
  }
  return *this;
}

DecodedFrame::~DecodedFrame() {
  av_frame_free(&frame);
}

struct ClipDecoder::Impl {
  std::shared_ptr<GrowingFile> source;
  uint64_t read_position = 0;
  // Declaration order matters: the format context must close before its I/O context goes.
  IoContextPtr io;
  FormatContextPtr format;
  StreamDecoder video{StreamKind::Video};
  StreamDecoder audio{StreamKind::Audio};
  PacketPtr packet{av_packet_alloc()};
  FramePtr frame{av_frame_alloc()};
  std::deque<DecodedFrame> ready;
  bool demux_ended = false;
  bool streamed = false;          // opened while downloading: see open()
  int64_t trim_before_ns = -1;    // accurate seek target; -1 when nothing is to be trimmed
  bool read_from_start = true;    // no seek yet: every packet of the index must come by
  std::deque<PacketPtr> pending;  // read ahead by seek_to_key_frame, to be decoded first

  static int read_callback(void *opaque, uint8_t *buffer, int size);
  static int64_t seek_callback(void *opaque, int64_t offset, int whence);
  static int interrupt_callback(void *opaque);

  void throw_if_interrupted() const;
  [[noreturn]] void throw_demux_error(const std::string &what, int code) const;
  void open(int threads);
  std::string describe_unrecognised_input() const;
  void open_decoder(StreamDecoder &stream, int threads);
  bool read_exact(uint64_t offset, uint8_t *buffer, size_t size) const;
  bool is_fragmented_mp4() const;
  ClipInfo describe() const;
  std::optional<DecodedFrame> next();
  bool step();
  void prime_picture();
  void decode_packet(StreamDecoder &stream);
  void drain(StreamDecoder &stream);
  void receive_frames(StreamDecoder &stream);
  void note_decode_error(StreamDecoder &stream, int code);
  void check_decoded_something(const StreamDecoder &stream) const;
  void check_not_truncated() const;
  void emit(StreamDecoder &stream);
  bool trim_audio_front(int64_t *pts_ns, int64_t *duration_ns);
  void seek(int64_t position_ns, bool accurate);
  int64_t seek_to_key_frame(int64_t position_ns);
  int read_packet();
};

int ClipDecoder::Impl::read_callback(void *opaque, uint8_t *buffer, int size) {
  auto *self = static_cast<Impl *>(opaque);
  int64_t got = self->source->read_at(self->read_position, buffer, static_cast<size_t>(size));
  if (got < 0) return self->source->cancelled() ? AVERROR_EXIT : AVERROR(EIO);
  if (got == 0) return AVERROR_EOF;
  self->read_position += static_cast<uint64_t>(got);
  return static_cast<int>(got);
}

// Seeking past what is written is allowed: the next read waits for the bytes. That is how a
// clip with its index (moov) at the end gets opened: the demuxer seeks there and waits.
int64_t ClipDecoder::Impl::seek_callback(void *opaque, int64_t offset, int whence) {
  auto *self = static_cast<Impl *>(opaque);
  std::optional<uint64_t> size = self->source->known_size();
  int64_t target = 0;
  switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
      // Unknown until the download ends; saying so lets the demuxer go on progressively.
      return size ? static_cast<int64_t>(*size) : AVERROR(ENOSYS);
    case SEEK_SET:
      target = offset;
      break;
    case SEEK_CUR:
      target = static_cast<int64_t>(self->read_position) + offset;
      break;
    case SEEK_END:
      if (!size) return AVERROR(ENOSYS);
      target = static_cast<int64_t>(*size) + offset;
      break;
    default:
      return AVERROR(EINVAL);
  }
  if (target < 0) return AVERROR(EINVAL);
  self->read_position = static_cast<uint64_t>(target);
  return target;
}

int ClipDecoder::Impl::interrupt_callback(void *opaque) {
  return static_cast<Impl *>(opaque)->source->cancelled() ? 1 : 0;
}

// A wait that ended because of cancel() or a failed download is reported as that, whatever
// error code it turned into inside libav.
void ClipDecoder::Impl::throw_if_interrupted() const {
  if (source->cancelled()) throw MediaError(false, "cancelled");
  const std::string download_error = source->error();
  if (!download_error.empty())
    throw MediaError(false, "the download of the clip failed: " + download_error);
}

void ClipDecoder::Impl::throw_demux_error(const std::string &what, int code) const {
  throw_if_interrupted();
  throw MediaError(false, what + " (" + av_error_text(code) + ")");
}

// Names what the bytes look like, for the common failure of a web page served as the video.
std::string ClipDecoder::Impl::describe_unrecognised_input() const {
  uint8_t head[256] = {};
  int64_t got = source->read_at(0, head, sizeof(head));
  if (got == 0) return "the clip is empty (0 bytes)";
  int64_t i = 0;
  while (i < got && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n' ||
                     head[i] == 0xEF || head[i] == 0xBB || head[i] == 0xBF))
    ++i;
  if (i < got && (head[i] == '<' || head[i] == '{'))
    return "the clip is a text or web page (HTML/JSON), not a video";
  return "the clip is not a video format that can be read";
}

void ClipDecoder::Impl::open(int threads) {
  if (!packet || !frame) throw std::bad_alloc();
  auto *buffer = static_cast<uint8_t *>(av_malloc(kIoBufferSize));
  if (!buffer) throw std::bad_alloc();
  AVIOContext *raw_io =
      avio_alloc_context(buffer, kIoBufferSize, 0, this, &read_callback, nullptr, &seek_callback);
  if (!raw_io) {
    av_free(buffer);
    throw std::bad_alloc();
  }
  io.reset(raw_io);

  const AVInputFormat *input_format = nullptr;
  // No file name: the ".mp4" a download is saved under must not make a web page pass for an MP4.
  int ret = av_probe_input_buffer2(io.get(), &input_format, "", nullptr, 0,
                                   static_cast<unsigned>(kProbeBytes));
  if (ret < 0) {
    throw_if_interrupted();
    throw MediaError(false, describe_unrecognised_input() + " (" + av_error_text(ret) + ")");
  }

  AVFormatContext *raw_format = avformat_alloc_context();
  if (!raw_format) throw std::bad_alloc();
  raw_format->pb = io.get();
  raw_format->flags |= AVFMT_FLAG_CUSTOM_IO;
  raw_format->interrupt_callback.callback = &interrupt_callback;
  raw_format->interrupt_callback.opaque = this;
  raw_format->probesize = kProbeBytes;
  raw_format->max_analyze_duration = kAnalyzeMicroseconds;
  // While the download runs, the I/O context says it is not seekable (the seek callback still
  // works for any offset): on a seekable input the MP4 demuxer reads every top-level box at open
  // (all fragments of a fragmented MP4, everything up to an mdat it cannot prove is the last),
  // which would wait for the whole download. Streamed, it stops at the first mdat and reads
  // fragments as it plays; forward jumps are read through, backward jumps use the callback.
  // A clip already whole is opened seekable, exactly as libav opens a file.
  streamed = !source->complete();
  io->seekable = streamed ? 0 : AVIO_SEEKABLE_NORMAL;
  // avformat_open_input frees the context itself when it fails.
  ret = avformat_open_input(&raw_format, source->path().c_str(), input_format, nullptr);
  if (ret < 0) {
    const bool mp4 = std::strcmp(input_format->name, kMp4DemuxerName) == 0;
    throw_demux_error(
        mp4 ? "the clip is damaged or incomplete: its MP4 index (the moov box) is missing or cut"
            : std::string("the clip is damaged or incomplete: its ") +
                  (input_format->long_name ? input_format->long_name : input_format->name) +
                  " structure cannot be read",
        ret);
  }
  format.reset(raw_format);

  // An MP4's index describes its tracks completely but for the picture's pixel format, which the
  // first decoded picture gives (see prime_picture): avformat_find_stream_info would decode seven
  // H.264 frames on its own to learn it, then the decoder the same frames again.
  const bool mp4 = std::strcmp(format->iformat->name, kMp4DemuxerName) == 0;
  if (!mp4) {
    ret = avformat_find_stream_info(format.get(), nullptr);
    if (ret < 0) throw_demux_error("the clip's tracks cannot be identified", ret);
  }

  video.index = av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  audio.index = av_find_best_stream(format.get(), AVMEDIA_TYPE_AUDIO, -1,
                                    video.index >= 0 ? video.index : -1, nullptr, 0);
  if (video.index < 0 && audio.index < 0)
    throw MediaError(false, "the clip has neither a video nor an audio track");
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    int index = static_cast<int>(i);
    if (index != video.index && index != audio.index) format->streams[i]->discard = AVDISCARD_ALL;
  }
  if (video.index >= 0) open_decoder(video, threads);
  if (audio.index >= 0) open_decoder(audio, threads);
  if (video.codec && video.codec->pix_fmt == AV_PIX_FMT_NONE) prime_picture();
}

// Decodes until the first picture is out; what was decoded on the way waits in `ready` for next().
void ClipDecoder::Impl::prime_picture() {
  auto has_picture = [this] {
    for (const DecodedFrame &decoded : ready)
      if (decoded.kind == StreamKind::Video) return true;
    return false;
  };
  while (!has_picture() && !video.drained && step()) {
  }
}

void ClipDecoder::Impl::open_decoder(StreamDecoder &stream, int threads) {
  stream.stream = format->streams[stream.index];
  const AVCodecParameters *params = stream.stream->codecpar;
  const std::string codec_name = avcodec_get_name(params->codec_id);
  const AVCodec *codec = avcodec_find_decoder(params->codec_id);
  if (!codec && params->codec_id == AV_CODEC_ID_NONE) {
    char fourcc[AV_FOURCC_MAX_STRING_SIZE] = {};
    av_fourcc_make_string(fourcc, params->codec_tag);
    throw MediaError(true, std::string("the ") + track_name(stream.kind) +
                               " track uses a codec libav does not know (fourcc '" + fourcc + "')");
  }
  if (!codec)
    throw MediaError(true, std::string("the ") + track_name(stream.kind) + " track uses " +
                               codec_name + ", for which no decoder is installed");
  stream.codec.reset(avcodec_alloc_context3(codec));
  if (!stream.codec) throw std::bad_alloc();
  int ret = avcodec_parameters_to_context(stream.codec.get(), params);
  if (ret >= 0) {
    stream.codec->pkt_timebase = stream.stream->time_base;
    stream.codec->thread_count = threads;
    stream.codec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    ret = avcodec_open2(stream.codec.get(), codec, nullptr);
  }
  if (ret < 0)
    throw MediaError(true, std::string("the ") + track_name(stream.kind) + " decoder (" +
                               codec_name + ") cannot be opened (" + av_error_text(ret) + ")");
  if (stream.stream->start_time != AV_NOPTS_VALUE) stream.start_pts = stream.stream->start_time;
  if (stream.kind == StreamKind::Video) {
    AVRational rate = stream.stream->avg_frame_rate;
    if (!is_valid(rate)) rate = stream.stream->r_frame_rate;
    if (is_valid(rate)) stream.fallback_duration_ns = av_rescale_q(1, av_inv_q(rate), kNanoseconds);
  }
  stream.drained = false;
}

bool ClipDecoder::Impl::read_exact(uint64_t offset, uint8_t *buffer, size_t size) const {
  size_t done = 0;
  while (done < size) {
    int64_t got = source->read_at(offset + done, buffer + done, size - done);
    if (got <= 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

// True when the moov holds an mvex box (movie fragments follow). Only called once the demuxer
// has read the moov, so every byte looked at here is already on disk.
bool ClipDecoder::Impl::is_fragmented_mp4() const {
  if (std::strcmp(format->iformat->name, kMp4DemuxerName) != 0) return false;
  auto box_at = [this](uint64_t offset, uint64_t *size, uint32_t *type) {
    uint8_t header[16];
    if (!read_exact(offset, header, 8)) return false;
    *size = AV_RB32(header);
    *type = AV_RL32(header + 4);
    if (*size == 1) {
      if (!read_exact(offset + 8, header + 8, 8)) return false;
      *size = AV_RB64(header + 8);
    }
    return *size >= 8;
  };
  constexpr int kMaxBoxes = 64;
  uint64_t offset = 0, size = 0;
  uint32_t type = 0;
  for (int i = 0; i < kMaxBoxes && box_at(offset, &size, &type); ++i, offset += size) {
    if (type != MKTAG('m', 'o', 'o', 'v')) continue;
    const uint64_t moov_end = offset + size;
    uint64_t child = offset + 8;
    for (int j = 0; j < kMaxBoxes && child < moov_end && box_at(child, &size, &type); ++j) {
      if (type == MKTAG('m', 'v', 'e', 'x')) return true;
      child += size;
    }
    return false;
  }
  return false;
}

ClipInfo ClipDecoder::Impl::describe() const {
  ClipInfo info;
  if (video.codec) {
    const AVCodecParameters *params = video.stream->codecpar;
    VideoStreamInfo v;
    v.width = params->width;
    v.height = params->height;
    v.pixel_format = video.codec->pix_fmt != AV_PIX_FMT_NONE
                         ? video.codec->pix_fmt
                         : static_cast<AVPixelFormat>(params->format);
    AVRational rate = video.stream->avg_frame_rate;
    if (!is_valid(rate)) rate = video.stream->r_frame_rate;
    if (is_valid(rate)) {
      v.fps_num = rate.num;
      v.fps_den = rate.den;
    }
    // The container's values, else the decoder's (from the stream's own headers, known once the
    // first picture is decoded).
    AVRational par = av_guess_sample_aspect_ratio(format.get(), video.stream, nullptr);
    if (!is_valid(par)) par = video.codec->sample_aspect_ratio;
    if (is_valid(par)) {
      av_reduce(&v.par_num, &v.par_den, par.num, par.den, 1 << 30);
    }
    v.color_range = params->color_range != AVCOL_RANGE_UNSPECIFIED ? params->color_range
                                                                   : video.codec->color_range;
    v.color_space = params->color_space != AVCOL_SPC_UNSPECIFIED ? params->color_space
                                                                 : video.codec->colorspace;
    v.color_primaries = params->color_primaries != AVCOL_PRI_UNSPECIFIED
                            ? params->color_primaries
                            : video.codec->color_primaries;
    v.color_trc =
        params->color_trc != AVCOL_TRC_UNSPECIFIED ? params->color_trc : video.codec->color_trc;
    v.codec_name = avcodec_get_name(params->codec_id);
    // Not while a fragmented MP4 downloads: the demuxer knows only its first fragment then.
    if (video.stream->duration > 0 && !(streamed && is_fragmented_mp4()))
      v.duration_ns = av_rescale_q(video.stream->duration, video.stream->time_base, kNanoseconds);
    info.video = v;
  }
  if (audio.codec) {
    const AVCodecParameters *params = audio.stream->codecpar;
    AudioStreamInfo a;
    a.sample_rate = params->sample_rate;
    a.channels = params->ch_layout.nb_channels;
    // The decoder's layout (from the stream's own config) when the container gives no order.
    const AVChannelLayout &layout = params->ch_layout.order == AV_CHANNEL_ORDER_NATIVE
                                        ? params->ch_layout
                                        : audio.codec->ch_layout;
    if (layout.order == AV_CHANNEL_ORDER_NATIVE) a.channel_mask = layout.u.mask;
    a.sample_format = audio.codec->sample_fmt != AV_SAMPLE_FMT_NONE
                          ? audio.codec->sample_fmt
                          : static_cast<AVSampleFormat>(params->format);
    a.codec_name = avcodec_get_name(params->codec_id);
    info.audio = a;
  }
  // A duration guessed from the bit rate is not worth reporting as the clip's length, nor the
  // length of the first fragment of a fragmented MP4 opened while it downloads.
  const bool partial_fragments = streamed && is_fragmented_mp4();
  if (format->duration != AV_NOPTS_VALUE &&
      format->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE && !partial_fragments)
    info.duration_ns = av_rescale_q(format->duration, AV_TIME_BASE_Q, kNanoseconds);
  // A whole fragmented MP4 has no length in its header (an empty moov), but its tracks have one
  // once every fragment was read: the clip lasts as long as its longest track.
  if (info.duration_ns < 0 && !partial_fragments)
    for (const StreamDecoder *track : {&video, &audio})
      if (track->codec && track->stream->duration > 0)
        info.duration_ns = std::max<int64_t>(
            info.duration_ns,
            av_rescale_q(track->stream->duration, track->stream->time_base, kNanoseconds));
  info.container = format->iformat->long_name ? format->iformat->long_name : format->iformat->name;
  return info;
}

// One packet read and decoded, or one drain round at the end. False once both streams are done.
bool ClipDecoder::Impl::step() {
  if (video.drained && audio.drained) return false;
  if (demux_ended) {
    drain(video);
    drain(audio);
    return true;
  }
  int ret = read_packet();
  if (ret == AVERROR_EOF) {
    demux_ended = true;
    check_not_truncated();
    return true;
  }
  if (ret < 0) throw_demux_error("reading the clip failed", ret);
  if (packet->stream_index == video.index && !video.drained) {
    decode_packet(video);
  } else if (packet->stream_index == audio.index && !audio.drained) {
    decode_packet(audio);
  }
  av_packet_unref(packet.get());
  return true;
}

std::optional<DecodedFrame> ClipDecoder::Impl::next() {
  while (ready.empty())
    if (!step()) return std::nullopt;
  DecodedFrame out = std::move(ready.front());
  ready.pop_front();
  return out;
}

int ClipDecoder::Impl::read_packet() {
  if (pending.empty()) return av_read_frame(format.get(), packet.get());
  av_packet_move_ref(packet.get(), pending.front().get());
  pending.pop_front();
  return 0;
}

void ClipDecoder::Impl::decode_packet(StreamDecoder &stream) {
  ++stream.packets_sent;
  int ret = avcodec_send_packet(stream.codec.get(), packet.get());
  if (ret == AVERROR(EAGAIN)) {
    receive_frames(stream);
    ret = avcodec_send_packet(stream.codec.get(), packet.get());
  }
  if (ret < 0) {
    note_decode_error(stream, ret);
    return;
  }
  receive_frames(stream);
}

void ClipDecoder::Impl::drain(StreamDecoder &stream) {
  if (stream.drained) return;
  if (!stream.flush_sent) {
    stream.flush_sent = true;
    avcodec_send_packet(stream.codec.get(), nullptr);
  }
  receive_frames(stream);
}

void ClipDecoder::Impl::receive_frames(StreamDecoder &stream) {
  for (;;) {
    int ret = avcodec_receive_frame(stream.codec.get(), frame.get());
    if (ret == AVERROR(EAGAIN) && !stream.flush_sent) return;
    if (ret == AVERROR_EOF || ret == AVERROR(EAGAIN)) {
      stream.drained = true;
      check_decoded_something(stream);
      return;
    }
    if (ret < 0) {
      note_decode_error(stream, ret);
      continue;
    }
    if (frame->decode_error_flags || (frame->flags & AV_FRAME_FLAG_CORRUPT)) {
      av_frame_unref(frame.get());
      note_decode_error(stream, AVERROR_INVALIDDATA);
      continue;
    }
    stream.consecutive_errors = 0;
    ++stream.frames_decoded;
    emit(stream);
  }
}

void ClipDecoder::Impl::note_decode_error(StreamDecoder &stream, int code) {
  if (++stream.consecutive_errors < kMaxConsecutiveDecodeErrors) return;
  throw MediaError(true, std::string("the ") + track_name(stream.kind) +
                             " track cannot be decoded: its data is damaged (" +
                             av_error_text(code) + ")");
}

void ClipDecoder::Impl::check_decoded_something(const StreamDecoder &stream) const {
  if (stream.packets_sent > 0 && stream.frames_decoded == 0)
    throw MediaError(true, std::string("the ") + track_name(stream.kind) +
                               " track cannot be decoded: not one of its " +
                               std::to_string(stream.packets_sent) +
                               " packets gave a picture or sound");
}

// libav ends a clip whose data stops early as if it were complete; the index knows better.
void ClipDecoder::Impl::check_not_truncated() const {
  if (!read_from_start || !video.stream || video.stream->nb_frames <= 0) return;
  if (video.packets_sent < video.stream->nb_frames)
    throw MediaError(
        false, "the clip is truncated: its index lists " + std::to_string(video.stream->nb_frames) +
                   " pictures but the data ends after " + std::to_string(video.packets_sent));
}

void ClipDecoder::Impl::emit(StreamDecoder &stream) {
  int64_t pts_ns = stream.next_pts_ns;
  if (frame->best_effort_timestamp != AV_NOPTS_VALUE)
    pts_ns = av_rescale_q(frame->best_effort_timestamp - stream.start_pts, stream.stream->time_base,
                          kNanoseconds);
  int64_t duration_ns = stream.fallback_duration_ns;
  if (stream.kind == StreamKind::Audio && frame->sample_rate > 0) {
    duration_ns = av_rescale(frame->nb_samples, 1000000000, frame->sample_rate);
  } else if (frame->pkt_duration > 0) {
    duration_ns = av_rescale_q(frame->pkt_duration, stream.stream->time_base, kNanoseconds);
  }
  stream.next_pts_ns = pts_ns + duration_ns;

  if (trim_before_ns >= 0 && pts_ns < trim_before_ns) {
    // The frame on screen (or sounding) at the target is kept; only frames that end before it go.
    if (pts_ns + duration_ns <= trim_before_ns) {
      av_frame_unref(frame.get());
      return;
    }
    if (stream.kind == StreamKind::Audio && !trim_audio_front(&pts_ns, &duration_ns)) {
      av_frame_unref(frame.get());
      return;
    }
  }

  DecodedFrame out;
  out.kind = stream.kind;
  out.frame = av_frame_alloc();
  if (!out.frame) throw std::bad_alloc();
  av_frame_move_ref(out.frame, frame.get());
  out.pts_ns = pts_ns;
  out.duration_ns = duration_ns;
  out.discont = stream.discont;
  stream.discont = false;
  ready.push_back(std::move(out));
}

// Cuts the samples before trim_before_ns from the front of `frame` by copying the rest into a
// new frame (audio frames are small; moving data pointers would break planar layouts and the
// buffer references downstream relies on). False when nothing remains.
bool ClipDecoder::Impl::trim_audio_front(int64_t *pts_ns, int64_t *duration_ns) {
  const int rate = frame->sample_rate;
  const int64_t cut = av_rescale_rnd(trim_before_ns - *pts_ns, rate, 1000000000, AV_ROUND_NEAR_INF);
  if (cut <= 0) return true;
  if (cut >= frame->nb_samples) return false;
  const int keep = frame->nb_samples - static_cast<int>(cut);
  FramePtr trimmed(av_frame_alloc());
  if (!trimmed) throw std::bad_alloc();
  trimmed->format = frame->format;
  trimmed->sample_rate = rate;
  trimmed->nb_samples = keep;
  if (av_channel_layout_copy(&trimmed->ch_layout, &frame->ch_layout) < 0 ||
      av_frame_get_buffer(trimmed.get(), 0) < 0 ||
      av_frame_copy_props(trimmed.get(), frame.get()) < 0)
    throw std::bad_alloc();
  av_samples_copy(trimmed->extended_data, frame->extended_data, 0, static_cast<int>(cut), keep,
                  frame->ch_layout.nb_channels, static_cast<AVSampleFormat>(frame->format));
  const int64_t cut_ticks = av_rescale_q(cut, AVRational{1, rate}, audio.stream->time_base);
  if (trimmed->pts != AV_NOPTS_VALUE) trimmed->pts += cut_ticks;
  if (trimmed->best_effort_timestamp != AV_NOPTS_VALUE) trimmed->best_effort_timestamp += cut_ticks;
  *pts_ns += av_rescale(cut, 1000000000, rate);
  *duration_ns = av_rescale(keep, 1000000000, rate);
  av_frame_unref(frame.get());
  av_frame_move_ref(frame.get(), trimmed.get());
  return true;
}

void ClipDecoder::Impl::seek(int64_t position_ns, bool accurate) {
  if (position_ns < 0) position_ns = 0;
  StreamDecoder &reference = video.codec ? video : audio;
  const int64_t timestamp =
      reference.start_pts + av_rescale_q(position_ns, kNanoseconds, reference.stream->time_base);
  // A read cancelled earlier leaves its error in the I/O context; a seek starts afresh.
  io->error = 0;
  io->eof_reached = 0;
  int ret = av_seek_frame(format.get(), reference.index, timestamp, AVSEEK_FLAG_BACKWARD);
  if (ret < 0) throw_demux_error("seeking in the clip failed", ret);
  ready.clear();
  pending.clear();
  av_packet_unref(packet.get());
  demux_ended = false;
  trim_before_ns = accurate ? position_ns : -1;
  read_from_start = false;
  for (StreamDecoder *stream : {&video, &audio}) {
    if (!stream->codec) continue;
    avcodec_flush_buffers(stream->codec.get());
    stream->drained = false;
    stream->flush_sent = false;
    stream->discont = true;
    stream->consecutive_errors = 0;
    stream->packets_sent = 0;
    stream->frames_decoded = 0;
    stream->next_pts_ns = position_ns;
  }
}

int64_t ClipDecoder::Impl::seek_to_key_frame(int64_t position_ns) {
  seek(position_ns, false);
  if (position_ns < 0) position_ns = 0;
  // The key frame is the reference stream's first packet from here on: read up to it and keep
  // what was read for next().
  constexpr int kMaxReadAhead = 512;
  const StreamDecoder &reference = video.codec ? video : audio;
  for (int i = 0; i < kMaxReadAhead; ++i) {
    PacketPtr ahead(av_packet_alloc());
    if (!ahead) throw std::bad_alloc();
    const int ret = av_read_frame(format.get(), ahead.get());
    if (ret == AVERROR_EOF) break;
    if (ret < 0) throw_demux_error("reading the clip failed", ret);
    const bool found = ahead->stream_index == reference.index;
    const int64_t timestamp = ahead->pts != AV_NOPTS_VALUE ? ahead->pts : ahead->dts;
    pending.push_back(std::move(ahead));
    if (!found) continue;
    if (timestamp == AV_NOPTS_VALUE) break;
    const int64_t key_ns = std::clamp<int64_t>(
        av_rescale_q(timestamp - reference.start_pts, reference.stream->time_base, kNanoseconds), 0,
        position_ns);
    // Both streams start there: sound from before the key frame is cut like an accurate seek's.
    trim_before_ns = key_ns;
    for (StreamDecoder *stream : {&video, &audio}) stream->next_pts_ns = key_ns;
    return key_ns;
  }
  return position_ns;
}

ClipDecoder::ClipDecoder(std::shared_ptr<GrowingFile> source, int threads)
    : impl_(std::make_unique<Impl>()) {
  impl_->source = std::move(source);
  impl_->open(threads);
  info_ = impl_->describe();
}

ClipDecoder::~ClipDecoder() = default;

std::optional<DecodedFrame> ClipDecoder::next() {
  return impl_->next();
}

void ClipDecoder::seek(int64_t position_ns, bool accurate) {
  impl_->seek(position_ns, accurate);
}

int64_t ClipDecoder::seek_to_key_frame(int64_t position_ns) {
  return impl_->seek_to_key_frame(position_ns);
}

bool ClipDecoder::cancelled() const {
  return impl_->source->cancelled();
}

}  // namespace see2ai
