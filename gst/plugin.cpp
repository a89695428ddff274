// Plugin entry of "see2ai": registers the see2aivideosrc element and nothing else.
// All behaviour lives in the element and the core library.
#include "gstsee2aivideosrc.h"

#ifndef PACKAGE
#define PACKAGE "see2ai-gst"
#endif

static gboolean plugin_init(GstPlugin *plugin) {
  return GST_ELEMENT_REGISTER(see2aivideosrc, plugin);
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, see2ai,
                  "Generate video and audio from a prompt with the SEE2AI video generation service",
                  plugin_init, "0.1.0", "LGPL", "see2ai-gst", "https://see2ai.com")
