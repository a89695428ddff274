// The see2ai:// URI handler of see2aivideosrc: see2ai://generate?prompt=...&duration=5 (or its
// path form see2ai://generate/prompt=.../duration=5, which ges-launch-1.0 takes as written) sets
// any property by name (arrays as repeated keys) and see2ai://task/<task_id> attaches to a task. It
// reads and writes the element only through its properties; the API key never travels in a URI.
#pragma once

#include <gst/gst.h>

// The GstURIHandler interface's init function, for G_IMPLEMENT_INTERFACE.
void see2ai_uri_handler_init(gpointer g_iface, gpointer iface_data);
