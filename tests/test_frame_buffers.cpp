// frame_buffers: libav's decoded frames as GStreamer buffers. Real AVFrames with libav's own
// allocation (padded strides), checked through GStreamer's own mapping functions.
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <cstring>

#include "frame_buffers.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
}

namespace {

using see2ai::AudioStreamInfo;
using see2ai::VideoStreamInfo;

class FrameBuffersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
};

VideoStreamInfo stream_of(AVPixelFormat format, int width, int height) {
  VideoStreamInfo stream;
  stream.width = width;
  stream.height = height;
  stream.pixel_format = format;
  stream.fps_num = 24;
  stream.fps_den = 1;
  return stream;
}

// A frame libav allocates the way its decoders do (aligned, so strides exceed the width), every
// byte of plane p at (x, y) set to a pattern the tests can recompute.
AVFrame *patterned_frame(AVPixelFormat format, int width, int height) {
  AVFrame *frame = av_frame_alloc();
  frame->format = format;
  frame->width = width;
  frame->height = height;
  if (av_frame_get_buffer(frame, 64) < 0) {
    av_frame_free(&frame);
    return nullptr;
  }
  const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(format);
  for (int p = 0; p < 4 && frame->data[p]; ++p) {
    const int rows = p == 0 ? height : AV_CEIL_RSHIFT(height, desc->log2_chroma_h);
    for (int y = 0; y < rows; ++y)
      for (int x = 0; x < frame->linesize[p]; ++x)
        frame->data[p][y * frame->linesize[p] + x] = static_cast<uint8_t>(p * 50 + x * 3 + y * 7);
  }
  return frame;
}

// Planar float stereo, as the AAC decoder gives it.
AVFrame *stereo_float_frame(int rate, int samples) {
  AVFrame *frame = av_frame_alloc();
  frame->format = AV_SAMPLE_FMT_FLTP;
  frame->sample_rate = rate;
  frame->nb_samples = samples;
  av_channel_layout_default(&frame->ch_layout, 2);
  if (av_frame_get_buffer(frame, 0) < 0) av_frame_free(&frame);
  return frame;
}

TEST_F(FrameBuffersTest, DecoderFormatsMapToGStreamerFormats) {
  struct Case {
    AVPixelFormat av;
    GstVideoFormat gst;
  } cases[] = {{AV_PIX_FMT_YUV420P, GST_VIDEO_FORMAT_I420},
               {AV_PIX_FMT_YUVJ420P, GST_VIDEO_FORMAT_I420},
               {AV_PIX_FMT_NV12, GST_VIDEO_FORMAT_NV12},
               {AV_PIX_FMT_YUV420P10LE, GST_VIDEO_FORMAT_I420_10LE},
               {AV_PIX_FMT_YUV422P10LE, GST_VIDEO_FORMAT_I422_10LE},
               {AV_PIX_FMT_P010LE, GST_VIDEO_FORMAT_P010_10LE},
               {AV_PIX_FMT_YUV444P, GST_VIDEO_FORMAT_Y444}};
  for (const auto &c : cases) {
    GstVideoInfo info;
    ASSERT_TRUE(video_info_from_stream(stream_of(c.av, 1248, 704), &info))
        << av_get_pix_fmt_name(c.av);
    EXPECT_EQ(GST_VIDEO_INFO_FORMAT(&info), c.gst) << av_get_pix_fmt_name(c.av);
    EXPECT_EQ(GST_VIDEO_INFO_WIDTH(&info), 1248);
    EXPECT_EQ(GST_VIDEO_INFO_FPS_N(&info), 24);
  }
  GstVideoInfo info;
  EXPECT_FALSE(video_info_from_stream(stream_of(AV_PIX_FMT_PAL8, 64, 64), &info));
}

TEST_F(FrameBuffersTest, FullRangeYuvjIsI420WithFullRangeColorimetry) {
  GstVideoInfo info;
  ASSERT_TRUE(video_info_from_stream(stream_of(AV_PIX_FMT_YUVJ420P, 640, 360), &info));
  EXPECT_EQ(GST_VIDEO_INFO_FORMAT(&info), GST_VIDEO_FORMAT_I420);
  EXPECT_EQ(info.colorimetry.range, GST_VIDEO_COLOR_RANGE_0_255);
  VideoStreamInfo limited = stream_of(AV_PIX_FMT_YUV420P, 640, 360);
  limited.color_range = AVCOL_RANGE_MPEG;
  limited.color_space = AVCOL_SPC_BT709;
  ASSERT_TRUE(video_info_from_stream(limited, &info));
  EXPECT_EQ(info.colorimetry.range, GST_VIDEO_COLOR_RANGE_16_235);
  EXPECT_EQ(info.colorimetry.matrix, GST_VIDEO_COLOR_MATRIX_BT709);
}

TEST_F(FrameBuffersTest, PicturesAreWrappedWithoutACopyAndOutliveTheFrame) {
  // 1470x630: libav's rows are padded, so the strides differ from GStreamer's default layout.
  AVFrame *frame = patterned_frame(AV_PIX_FMT_YUV420P, 1470, 630);
  ASSERT_NE(frame, nullptr);
  GstVideoInfo info;
  ASSERT_TRUE(video_info_from_stream(stream_of(AV_PIX_FMT_YUV420P, 1470, 630), &info));
  ASSERT_NE(frame->linesize[1], GST_VIDEO_INFO_PLANE_STRIDE(&info, 1));

  GstBuffer *buffer = video_buffer_from_frame(frame, &info);
  ASSERT_NE(buffer, nullptr);
  GstVideoMeta *meta = gst_buffer_get_video_meta(buffer);
  ASSERT_NE(meta, nullptr);
  EXPECT_EQ(meta->n_planes, 3u);
  for (int p = 0; p < 3; ++p) EXPECT_EQ(meta->stride[p], frame->linesize[p]) << p;
  // The buffer's memory is libav's own: the same bytes, not a copy of them.
  GstMapInfo map;
  ASSERT_TRUE(gst_memory_map(gst_buffer_peek_memory(buffer, 0), &map, GST_MAP_READ));
  EXPECT_EQ(map.data, frame->data[0]);
  gst_memory_unmap(gst_buffer_peek_memory(buffer, 0), &map);

  // Held by the buffer once the frame is gone (as when the decoder reuses its frame).
  const int luma_stride = frame->linesize[0];
  av_frame_free(&frame);
  GstVideoFrame mapped;
  ASSERT_TRUE(gst_video_frame_map(&mapped, &info, buffer, GST_MAP_READ));
  EXPECT_EQ(GST_VIDEO_FRAME_PLANE_STRIDE(&mapped, 0), luma_stride);
  const auto *luma = static_cast<const uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(&mapped, 0));
  const auto *chroma = static_cast<const uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(&mapped, 2));
  EXPECT_EQ(luma[629 * luma_stride + 1469], static_cast<uint8_t>(1469 * 3 + 629 * 7));
  EXPECT_EQ(chroma[314 * GST_VIDEO_FRAME_PLANE_STRIDE(&mapped, 2) + 734],
            static_cast<uint8_t>(100 + 734 * 3 + 314 * 7));
  gst_video_frame_unmap(&mapped);
  gst_buffer_unref(buffer);

  // A picture of another size than the caps say is refused: wrapping it would let downstream read
  // past its planes.
  AVFrame *smaller = patterned_frame(AV_PIX_FMT_YUV420P, 640, 360);
  ASSERT_NE(smaller, nullptr);
  EXPECT_EQ(video_buffer_from_frame(smaller, &info), nullptr);
  av_frame_free(&smaller);
}

TEST_F(FrameBuffersTest, PeersWithoutTheMetaGetTheSamePictureInTheDefaultLayout) {
  AVFrame *frame = patterned_frame(AV_PIX_FMT_NV12, 1470, 630);
  ASSERT_NE(frame, nullptr);
  GstVideoInfo info;
  ASSERT_TRUE(video_info_from_stream(stream_of(AV_PIX_FMT_NV12, 1470, 630), &info));
  GstBuffer *wrapped = video_buffer_from_frame(frame, &info);
  ASSERT_NE(wrapped, nullptr);
  GST_BUFFER_PTS(wrapped) = 42 * GST_MSECOND;
  GstBuffer *copy = video_buffer_to_default_layout(wrapped, &info);
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(gst_buffer_get_size(copy), GST_VIDEO_INFO_SIZE(&info));
  EXPECT_EQ(GST_BUFFER_PTS(copy), 42 * GST_MSECOND);
  GstVideoFrame mapped;
  ASSERT_TRUE(gst_video_frame_map(&mapped, &info, copy, GST_MAP_READ));
  for (int p = 0; p < 2; ++p) {
    const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&mapped, p);
    EXPECT_EQ(stride, GST_VIDEO_INFO_PLANE_STRIDE(&info, p));
    const auto *data = static_cast<const uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(&mapped, p));
    const int rows = p == 0 ? 630 : 315;
    const int row_bytes = GST_VIDEO_FRAME_COMP_WIDTH(&mapped, p == 0 ? 0 : 1) *
                          GST_VIDEO_FRAME_COMP_PSTRIDE(&mapped, p == 0 ? 0 : 1);
    for (int y = 0; y < rows; y += 37)
      for (int x = 0; x < row_bytes; x += 13)
        ASSERT_EQ(data[y * stride + x], frame->data[p][y * frame->linesize[p] + x])
            << "plane " << p << " at " << x << "," << y;
  }
  gst_video_frame_unmap(&mapped);
  gst_buffer_unref(copy);
  av_frame_free(&frame);
}

TEST_F(FrameBuffersTest, PlanarSoundIsInterleaved) {
  AudioStreamInfo stream;
  stream.sample_rate = 48000;
  stream.channels = 2;
  stream.sample_format = AV_SAMPLE_FMT_FLTP;
  GstAudioInfo info;
  ASSERT_TRUE(audio_info_from_stream(stream, &info));
  EXPECT_EQ(GST_AUDIO_INFO_FORMAT(&info), GST_AUDIO_FORMAT_F32LE);
  EXPECT_EQ(GST_AUDIO_INFO_LAYOUT(&info), GST_AUDIO_LAYOUT_INTERLEAVED);
  EXPECT_EQ(GST_AUDIO_INFO_CHANNELS(&info), 2);

  AVFrame *frame = stereo_float_frame(48000, 1024);
  ASSERT_NE(frame, nullptr);
  for (int c = 0; c < 2; ++c)
    for (int s = 0; s < 1024; ++s)
      reinterpret_cast<float *>(frame->extended_data[c])[s] = (c ? -1.0f : 1.0f) * s / 1024.0f;
  GstBuffer *buffer = audio_buffer_from_frame(frame, &info);
  av_frame_free(&frame);
  ASSERT_NE(buffer, nullptr);
  ASSERT_EQ(gst_buffer_get_size(buffer), 1024u * 2 * sizeof(float));
  GstMapInfo map;
  ASSERT_TRUE(gst_buffer_map(buffer, &map, GST_MAP_READ));
  const auto *samples = reinterpret_cast<const float *>(map.data);
  for (int s = 0; s < 1024; s += 101) {
    EXPECT_FLOAT_EQ(samples[2 * s], s / 1024.0f);
    EXPECT_FLOAT_EQ(samples[2 * s + 1], -s / 1024.0f);
  }
  gst_buffer_unmap(buffer, &map);
  gst_buffer_unref(buffer);

  // A frame at another rate than the caps say is refused, not mislabelled.
  stream.sample_rate = 24000;
  GstAudioInfo half_rate;
  ASSERT_TRUE(audio_info_from_stream(stream, &half_rate));
  AVFrame *other = stereo_float_frame(48000, 1024);
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(audio_buffer_from_frame(other, &half_rate), nullptr);
  av_frame_free(&other);

  stream.channels = 9;
  EXPECT_FALSE(audio_info_from_stream(stream, &info));
}

TEST_F(FrameBuffersTest, SurroundChannelsArePlacedWhereTheStreamSays) {
  AudioStreamInfo stream;
  stream.sample_rate = 48000;
  stream.sample_format = AV_SAMPLE_FMT_FLTP;
  stream.channels = 6;
  // 5.1 with side speakers: GStreamer's own guess for six channels would say rear.
  stream.channel_mask = AV_CH_LAYOUT_5POINT1;
  GstAudioInfo info;
  ASSERT_TRUE(audio_info_from_stream(stream, &info));
  EXPECT_EQ(info.position[4], GST_AUDIO_CHANNEL_POSITION_SIDE_LEFT);
  EXPECT_EQ(info.position[5], GST_AUDIO_CHANNEL_POSITION_SIDE_RIGHT);
  EXPECT_EQ(info.position[3], GST_AUDIO_CHANNEL_POSITION_LFE1);
  stream.channel_mask = AV_CH_LAYOUT_5POINT1_BACK;
  ASSERT_TRUE(audio_info_from_stream(stream, &info));
  EXPECT_EQ(info.position[4], GST_AUDIO_CHANNEL_POSITION_REAR_LEFT);
  // Mono stays mono whatever the mask says (AAC's mono is "front centre").
  stream.channels = 1;
  stream.channel_mask = AV_CH_LAYOUT_MONO;
  ASSERT_TRUE(audio_info_from_stream(stream, &info));
  EXPECT_EQ(info.position[0], GST_AUDIO_CHANNEL_POSITION_MONO);
}

}  // namespace
