// Mapping between libav's decoded frames and GStreamer: caps from stream info, and GstBuffers that
// wrap an AVFrame's reference-counted planes without copying (video) or interleave samples (audio).
#pragma once

#include <gst/audio/audio.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "clip_decoder.h"

// Fills `info` for the stream; false when libav's pixel format has no GStreamer equivalent.
bool video_info_from_stream(const see2ai::VideoStreamInfo &stream, GstVideoInfo *info);
bool audio_info_from_stream(const see2ai::AudioStreamInfo &stream, GstAudioInfo *info);

// A buffer whose memories hold references on the frame's planes, with a GstVideoMeta giving the
// decoder's strides: no pixel is copied. nullptr when the frame is not what `info` describes.
GstBuffer *video_buffer_from_frame(AVFrame *frame, const GstVideoInfo *info);
// For peers that cannot read a GstVideoMeta: the picture copied into the layout `info` describes.
// Takes `buffer`; nullptr when it cannot be mapped.
GstBuffer *video_buffer_to_default_layout(GstBuffer *buffer, const GstVideoInfo *info);

// Interleaved samples in the format `info` describes (planar decoder output is interleaved here);
// nullptr when the frame's rate, channels or sample format are not the ones `info` gives.
GstBuffer *audio_buffer_from_frame(const AVFrame *frame, const GstAudioInfo *info);
