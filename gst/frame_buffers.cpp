#include "frame_buffers.h"

#include <cstring>

extern "C" {
#include <libavutil/buffer.h>
#include <libavutil/channel_layout.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

namespace {

GstVideoFormat video_format_from_av(AVPixelFormat format) {
  switch (format) {
    case AV_PIX_FMT_YUV420P:
    case AV_PIX_FMT_YUVJ420P:
      return GST_VIDEO_FORMAT_I420;
    case AV_PIX_FMT_YUV422P:
    case AV_PIX_FMT_YUVJ422P:
      return GST_VIDEO_FORMAT_Y42B;
    case AV_PIX_FMT_YUV444P:
    case AV_PIX_FMT_YUVJ444P:
      return GST_VIDEO_FORMAT_Y444;
    case AV_PIX_FMT_NV12:
      return GST_VIDEO_FORMAT_NV12;
    case AV_PIX_FMT_YUV420P10LE:
      return GST_VIDEO_FORMAT_I420_10LE;
    case AV_PIX_FMT_YUV422P10LE:
      return GST_VIDEO_FORMAT_I422_10LE;
    case AV_PIX_FMT_YUV444P10LE:
      return GST_VIDEO_FORMAT_Y444_10LE;
    case AV_PIX_FMT_P010LE:
      return GST_VIDEO_FORMAT_P010_10LE;
    case AV_PIX_FMT_GRAY8:
      return GST_VIDEO_FORMAT_GRAY8;
    case AV_PIX_FMT_RGB24:
      return GST_VIDEO_FORMAT_RGB;
    case AV_PIX_FMT_RGBA:
      return GST_VIDEO_FORMAT_RGBA;
    case AV_PIX_FMT_BGRA:
      return GST_VIDEO_FORMAT_BGRA;
    default:
      return GST_VIDEO_FORMAT_UNKNOWN;
  }
}

bool full_range_format(AVPixelFormat format) {
  return format == AV_PIX_FMT_YUVJ420P || format == AV_PIX_FMT_YUVJ422P ||
         format == AV_PIX_FMT_YUVJ444P;
}

// libav's colour enums use the ISO/IEC 23001-8 code points, as do GStreamer's *_from_iso().
void apply_colorimetry(const see2ai::VideoStreamInfo &stream, GstVideoInfo *info) {
  if (!GST_VIDEO_INFO_IS_YUV(info)) return;
  GstVideoColorimetry &c = info->colorimetry;
  constexpr int kUnspecified = 2;
  if (stream.color_space != kUnspecified) {
    GstVideoColorMatrix matrix = gst_video_color_matrix_from_iso(stream.color_space);
    if (matrix != GST_VIDEO_COLOR_MATRIX_UNKNOWN) c.matrix = matrix;
  }
  if (stream.color_trc != kUnspecified) {
    GstVideoTransferFunction transfer = gst_video_transfer_function_from_iso(stream.color_trc);
    if (transfer != GST_VIDEO_TRANSFER_UNKNOWN) c.transfer = transfer;
  }
  if (stream.color_primaries != kUnspecified) {
    GstVideoColorPrimaries primaries = gst_video_color_primaries_from_iso(stream.color_primaries);
    if (primaries != GST_VIDEO_COLOR_PRIMARIES_UNKNOWN) c.primaries = primaries;
  }
  if (full_range_format(stream.pixel_format) || stream.color_range == AVCOL_RANGE_JPEG)
    c.range = GST_VIDEO_COLOR_RANGE_0_255;
  else if (stream.color_range == AVCOL_RANGE_MPEG)
    c.range = GST_VIDEO_COLOR_RANGE_16_235;
}

GstAudioFormat audio_format_from_av(AVSampleFormat format) {
  switch (av_get_packed_sample_fmt(format)) {
    case AV_SAMPLE_FMT_FLT:
      return GST_AUDIO_FORMAT_F32LE;
    case AV_SAMPLE_FMT_S16:
      return GST_AUDIO_FORMAT_S16LE;
    case AV_SAMPLE_FMT_S32:
      return GST_AUDIO_FORMAT_S32LE;
    case AV_SAMPLE_FMT_DBL:
      return GST_AUDIO_FORMAT_F64LE;
    case AV_SAMPLE_FMT_U8:
      return GST_AUDIO_FORMAT_U8;
    default:
      return GST_AUDIO_FORMAT_UNKNOWN;
  }
}

// libav's native channel order is its AV_CH_* bits in ascending order; the positions they name.
// Two or fewer channels keep GStreamer's defaults (mono, or front left and right).
bool channel_positions(uint64_t mask, int channels, GstAudioChannelPosition *positions) {
  static const struct {
    uint64_t bit;
    GstAudioChannelPosition position;
  } kPositions[] = {
      {AV_CH_FRONT_LEFT, GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT},
      {AV_CH_FRONT_RIGHT, GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT},
      {AV_CH_FRONT_CENTER, GST_AUDIO_CHANNEL_POSITION_FRONT_CENTER},
      {AV_CH_LOW_FREQUENCY, GST_AUDIO_CHANNEL_POSITION_LFE1},
      {AV_CH_BACK_LEFT, GST_AUDIO_CHANNEL_POSITION_REAR_LEFT},
      {AV_CH_BACK_RIGHT, GST_AUDIO_CHANNEL_POSITION_REAR_RIGHT},
      {AV_CH_FRONT_LEFT_OF_CENTER, GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT_OF_CENTER},
      {AV_CH_FRONT_RIGHT_OF_CENTER, GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT_OF_CENTER},
      {AV_CH_BACK_CENTER, GST_AUDIO_CHANNEL_POSITION_REAR_CENTER},
      {AV_CH_SIDE_LEFT, GST_AUDIO_CHANNEL_POSITION_SIDE_LEFT},
      {AV_CH_SIDE_RIGHT, GST_AUDIO_CHANNEL_POSITION_SIDE_RIGHT},
  };
  if (channels <= 2 || mask == 0) return false;
  int count = 0;
  for (const auto &entry : kPositions) {
    if (!(mask & entry.bit)) continue;
    if (count == channels) return false;
    positions[count++] = entry.position;
    mask &= ~entry.bit;
  }
  return count == channels && mask == 0 &&
         gst_audio_check_valid_channel_positions(positions, channels, TRUE);
}

void unref_av_buffer(gpointer ref) {
  AVBufferRef *buffer = static_cast<AVBufferRef *>(ref);
  av_buffer_unref(&buffer);
}

}  // namespace

bool video_info_from_stream(const see2ai::VideoStreamInfo &stream, GstVideoInfo *info) {
  GstVideoFormat format = video_format_from_av(stream.pixel_format);
  if (format == GST_VIDEO_FORMAT_UNKNOWN || stream.width <= 0 || stream.height <= 0) return false;
  gst_video_info_init(info);
  if (!gst_video_info_set_format(info, format, stream.width, stream.height)) return false;
  GST_VIDEO_INFO_FPS_N(info) = stream.fps_num;
  GST_VIDEO_INFO_FPS_D(info) = stream.fps_den > 0 ? stream.fps_den : 1;
  GST_VIDEO_INFO_PAR_N(info) = stream.par_num > 0 ? stream.par_num : 1;
  GST_VIDEO_INFO_PAR_D(info) = stream.par_den > 0 ? stream.par_den : 1;
  apply_colorimetry(stream, info);
  return true;
}

bool audio_info_from_stream(const see2ai::AudioStreamInfo &stream, GstAudioInfo *info) {
  GstAudioFormat format = audio_format_from_av(stream.sample_format);
  if (format == GST_AUDIO_FORMAT_UNKNOWN || stream.sample_rate <= 0 || stream.channels <= 0 ||
      stream.channels > 8)
    return false;
  GstAudioChannelPosition positions[8];
  const bool positioned = channel_positions(stream.channel_mask, stream.channels, positions);
  gst_audio_info_init(info);
  gst_audio_info_set_format(info, format, stream.sample_rate, stream.channels,
                            positioned ? positions : nullptr);
  return true;
}

GstBuffer *video_buffer_from_frame(AVFrame *frame, const GstVideoInfo *info) {
  if (frame->width != GST_VIDEO_INFO_WIDTH(info) || frame->height != GST_VIDEO_INFO_HEIGHT(info) ||
      video_format_from_av(static_cast<AVPixelFormat>(frame->format)) !=
          GST_VIDEO_INFO_FORMAT(info))
    return nullptr;
  const guint n_planes = GST_VIDEO_INFO_N_PLANES(info);
  size_t plane_sizes[4] = {0, 0, 0, 0};
  ptrdiff_t linesizes[4] = {0, 0, 0, 0};
  for (guint i = 0; i < n_planes; ++i) linesizes[i] = frame->linesize[i];
  if (av_image_fill_plane_sizes(plane_sizes, static_cast<AVPixelFormat>(frame->format),
                                frame->height, linesizes) < 0)
    return nullptr;

  GstBuffer *buffer = gst_buffer_new();
  gsize offsets[GST_VIDEO_MAX_PLANES] = {0};
  gint strides[GST_VIDEO_MAX_PLANES] = {0};
  gsize offset = 0;
  for (guint i = 0; i < n_planes; ++i) {
    AVBufferRef *owner = av_frame_get_plane_buffer(frame, static_cast<int>(i));
    AVBufferRef *ref = owner ? av_buffer_ref(owner) : nullptr;
    if (!ref) {
      gst_buffer_unref(buffer);
      return nullptr;
    }
    gst_buffer_append_memory(
        buffer, gst_memory_new_wrapped(GST_MEMORY_FLAG_READONLY, frame->data[i], plane_sizes[i], 0,
                                       plane_sizes[i], ref, unref_av_buffer));
    offsets[i] = offset;
    strides[i] = frame->linesize[i];
    offset += plane_sizes[i];
  }
  gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(info),
                                 GST_VIDEO_INFO_WIDTH(info), GST_VIDEO_INFO_HEIGHT(info), n_planes,
                                 offsets, strides);
  return buffer;
}

GstBuffer *video_buffer_to_default_layout(GstBuffer *buffer, const GstVideoInfo *info) {
  GstBuffer *copy = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(info), nullptr);
  GstVideoFrame in_frame, out_frame;
  bool ok = false;
  if (gst_video_frame_map(&in_frame, info, buffer, GST_MAP_READ)) {
    if (gst_video_frame_map(&out_frame, info, copy, GST_MAP_WRITE)) {
      ok = gst_video_frame_copy(&out_frame, &in_frame);
      gst_video_frame_unmap(&out_frame);
    }
    gst_video_frame_unmap(&in_frame);
  }
  if (ok)
    gst_buffer_copy_into(
        copy, buffer,
        static_cast<GstBufferCopyFlags>(GST_BUFFER_COPY_FLAGS | GST_BUFFER_COPY_TIMESTAMPS), 0, -1);
  gst_buffer_unref(buffer);
  if (!ok) {
    gst_buffer_unref(copy);
    return nullptr;
  }
  return copy;
}

GstBuffer *audio_buffer_from_frame(const AVFrame *frame, const GstAudioInfo *info) {
  if (frame->sample_rate != GST_AUDIO_INFO_RATE(info) ||
      frame->ch_layout.nb_channels != GST_AUDIO_INFO_CHANNELS(info) ||
      audio_format_from_av(static_cast<AVSampleFormat>(frame->format)) !=
          GST_AUDIO_INFO_FORMAT(info))
    return nullptr;
  const int channels = GST_AUDIO_INFO_CHANNELS(info);
  const int bps = GST_AUDIO_INFO_BPS(info);
  const int samples = frame->nb_samples;
  const gsize size = static_cast<gsize>(samples) * channels * bps;
  GstBuffer *buffer = gst_buffer_new_allocate(nullptr, size, nullptr);
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_WRITE)) {
    gst_buffer_unref(buffer);
    return nullptr;
  }
  const auto format = static_cast<AVSampleFormat>(frame->format);
  if (!av_sample_fmt_is_planar(format) || channels == 1) {
    memcpy(map.data, frame->extended_data[0], size);
  } else {
    for (int c = 0; c < channels; ++c) {
      const uint8_t *in = frame->extended_data[c];
      uint8_t *out = map.data + static_cast<gsize>(c) * bps;
      for (int s = 0; s < samples; ++s)
        memcpy(out + static_cast<gsize>(s) * channels * bps, in + static_cast<gsize>(s) * bps, bps);
    }
  }
  gst_buffer_unmap(buffer, &map);
  return buffer;
}
