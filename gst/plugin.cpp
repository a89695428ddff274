// Plugin entry of "see2ai": registers the see2aivideosrc element, and sends libav's own messages
// to a GStreamer debug category instead of the host process's stderr.
#include "gstsee2aivideosrc.h"

#include <cstdarg>

extern "C" {
#include <libavutil/log.h>
}

GST_DEBUG_CATEGORY_STATIC(see2ai_libav_debug);

namespace {

// Like gst-libav: libav's log lines become GStreamer debug lines (GST_DEBUG=see2ai-libav:5).
void libav_log(void *avcl, int level, const char *format, va_list args) {
  if (level > av_log_get_level()) return;
  GstDebugLevel gst_level = level <= AV_LOG_ERROR     ? GST_LEVEL_ERROR
                            : level <= AV_LOG_WARNING ? GST_LEVEL_WARNING
                            : level <= AV_LOG_INFO    ? GST_LEVEL_INFO
                                                      : GST_LEVEL_DEBUG;
  if (gst_level > gst_debug_category_get_threshold(see2ai_libav_debug)) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(avcl, level, format, args, line, sizeof line, &print_prefix);
  GST_CAT_LEVEL_LOG(see2ai_libav_debug, gst_level, nullptr, "%s", g_strchomp(line));
}

}  // namespace

#ifndef PACKAGE
#define PACKAGE "see2ai-gst"
#endif

static gboolean plugin_init(GstPlugin *plugin) {
  GST_DEBUG_CATEGORY_INIT(see2ai_libav_debug, "see2ai-libav", 0, "libav messages of see2ai");
  av_log_set_callback(libav_log);
  return GST_ELEMENT_REGISTER(see2aivideosrc, plugin);
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, see2ai,
                  "Generate video and audio from a prompt with the SEE2AI video generation service",
                  plugin_init, "0.1.0", "LGPL", "see2ai-gst", "https://see2ai.com")
