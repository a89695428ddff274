// see2aivideosrc: the GStreamer element over the see2ai core. The element file is glue: state
// changes, event and query dispatch, and the decoding task's body. Properties, the URI handler,
// bus messages and the pads have files of their own in gst/; generation, download, decoding and
// the rules of what plays next and when live in src/.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_SEE2AI_VIDEO_SRC (gst_see2ai_video_src_get_type())
G_DECLARE_FINAL_TYPE(GstSee2aiVideoSrc, gst_see2ai_video_src, GST, SEE2AI_VIDEO_SRC, GstElement)

GST_ELEMENT_REGISTER_DECLARE(see2aivideosrc);

// The task id set on purpose (the task-id property, a see2ai://task/ URI), or NULL: what the
// element's URI names, whatever task a run follows. Free with g_free.
gchar *gst_see2ai_video_src_dup_attach_task_id(GstSee2aiVideoSrc *self);

G_END_DECLS
