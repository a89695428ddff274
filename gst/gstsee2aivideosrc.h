// see2aivideosrc: the GStreamer skin over the see2ai core: properties, pads, state changes and bus
// messages. Generation, download and decoding live in src/ (GenerationJob, ClipDecoder).
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_SEE2AI_VIDEO_SRC (gst_see2ai_video_src_get_type())
G_DECLARE_FINAL_TYPE(GstSee2aiVideoSrc, gst_see2ai_video_src, GST, SEE2AI_VIDEO_SRC, GstElement)

GST_ELEMENT_REGISTER_DECLARE(see2aivideosrc);

G_END_DECLS
