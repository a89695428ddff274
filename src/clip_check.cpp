#include "clip_check.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/error.h>
}

namespace see2ai {

namespace {

// The service's results are MP4 files (API-NOTES, upstream facts): anything else is not its clip.
constexpr const char *kMp4DemuxerName = "mov,mp4,m4a,3gp,3g2,mj2";

std::string av_error_text(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof(text));
  return text;
}

struct FormatContextDeleter {
  void operator()(AVFormatContext *format) const { avformat_close_input(&format); }
};
struct PacketDeleter {
  void operator()(AVPacket *packet) const { av_packet_free(&packet); }
};

}  // namespace

std::optional<std::string> clip_problem(const std::string &path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::string("it cannot be read: ") + strerror(errno);
  const auto size = static_cast<int64_t>(st.st_size);
  if (size == 0) return std::string("it is empty");

  AVFormatContext *raw = nullptr;
  // avformat_open_input frees the context itself when it fails.
  int ret = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (ret < 0)
    return "it is not an MP4 with a readable index (the moov box is missing or cut: " +
           av_error_text(ret) + ")";
  std::unique_ptr<AVFormatContext, FormatContextDeleter> format(raw);
  if (std::strcmp(format->iformat->name, kMp4DemuxerName) != 0)
    return std::string("it is not an MP4 (libavformat reads it as ") + format->iformat->name + ")";
  bool media = false;
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    const AVCodecParameters *codec = format->streams[i]->codecpar;
    media |= (codec->codec_type == AVMEDIA_TYPE_VIDEO || codec->codec_type == AVMEDIA_TYPE_AUDIO) &&
             codec->codec_id != AV_CODEC_ID_NONE;
  }
  if (!media) return std::string("it has neither a video nor an audio track");

  // Every packet, read through (not decoded): a cut or garbled box shows up as a read error.
  std::unique_ptr<AVPacket, PacketDeleter> packet(av_packet_alloc());
  if (!packet) return std::string("out of memory");
  int64_t packets = 0;
  while ((ret = av_read_frame(format.get(), packet.get())) >= 0) {
    const bool corrupt = packet->flags & AV_PKT_FLAG_CORRUPT;
    av_packet_unref(packet.get());
    if (corrupt) return std::string("a sample of it is cut or damaged");
    ++packets;
  }
  if (ret != AVERROR_EOF) return "its samples cannot be read (" + av_error_text(ret) + ")";
  if (packets == 0) return std::string("it holds no samples");

  // The demuxer stops quietly at the end of the file even where the index promises more: the
  // index says how long the file must be.
  int64_t needed = 0;
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    AVStream *stream = format->streams[i];
    const int entries = avformat_index_get_entries_count(stream);
    for (int e = 0; e < entries; ++e) {
      const AVIndexEntry *entry = avformat_index_get_entry(stream, e);
      if (entry && entry->pos >= 0) needed = std::max(needed, entry->pos + entry->size);
    }
  }
  if (needed > size)
    return "it is cut short: its index places samples up to byte " + std::to_string(needed) +
           ", the file has " + std::to_string(size);
  return std::nullopt;
}

}  // namespace see2ai
