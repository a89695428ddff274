// see2ai-example-app: the smallest complete C++ application around see2aivideosrc. It builds the
// pipeline in code, links the element's pads when they appear and reports what the bus says.
//
// Usage: see2ai-example-app [PROMPT]
// The element reads SEE2AI_API_URL and SEE2AI_API_KEY from the environment; the plugin must be on
// GST_PLUGIN_PATH (e.g. GST_PLUGIN_PATH=build/gst). Exits 0 once the whole clip has played.
#include <gst/gst.h>

#include <cstdio>
#include <string>

namespace {

// see2aivideosrc creates its "video" and "audio" pads only when the clip is ready (the service
// decides whether there is sound), so they are linked here, not when the pipeline is built.
void on_pad_added(GstElement *, GstPad *pad, gpointer user_data) {
  auto *pipeline = static_cast<GstBin *>(user_data);
  gchar *pad_name = gst_pad_get_name(pad);
  const std::string branch = std::string(pad_name) + "-convert";
  g_free(pad_name);
  GstElement *convert = gst_bin_get_by_name(pipeline, branch.c_str());
  if (!convert) return;
  GstPad *sink = gst_element_get_static_pad(convert, "sink");
  if (gst_pad_link(pad, sink) != GST_PAD_LINK_OK)
    std::fprintf(stderr, "cannot link the %s pad\n", branch.c_str());
  gst_object_unref(sink);
  gst_object_unref(convert);
}

// A converter and a sink for one kind of stream. fakesink throws the frames away; put
// autovideosink / autoaudiosink here to watch and hear the clip.
bool add_branch(GstBin *pipeline, const char *convert_factory, const char *name) {
  GstElement *convert = gst_element_factory_make(convert_factory, name);
  GstElement *sink = gst_element_factory_make("fakesink", nullptr);
  if (!convert || !sink) return false;
  gst_bin_add_many(pipeline, convert, sink, nullptr);
  return gst_element_link(convert, sink);
}

void print_progress(GstMessage *message) {
  GstProgressType type;
  gchar *code = nullptr;
  gchar *text = nullptr;
  gst_message_parse_progress(message, &type, &code, &text);
  std::printf("progress: %s\n", text);
  g_free(code);
  g_free(text);
}

// The element posts "see2ai-task" whenever the task changes state and "see2ai-result" once the
// task has ended, with what it cost.
void print_element_message(GstMessage *message) {
  const GstStructure *s = gst_message_get_structure(message);
  if (gst_structure_has_name(s, "see2ai-task")) {
    std::printf("task %s: %s\n", gst_structure_get_string(s, "task-id"),
                gst_structure_get_string(s, "state"));
  } else if (gst_structure_has_name(s, "see2ai-result")) {
    gint64 input = 0, output = 0, total = 0;
    gboolean from_cache = FALSE;
    gst_structure_get_int64(s, "input-tokens", &input);
    gst_structure_get_int64(s, "output-tokens", &output);
    gst_structure_get_int64(s, "total-tokens", &total);
    gst_structure_get_boolean(s, "from-cache", &from_cache);
    // A clip replayed from the local cache costs nothing now; the fields say what it first cost.
    if (from_cache)
      std::printf("tokens spent: 0 (replayed from the cache; it first cost %" G_GINT64_FORMAT ")\n",
                  total);
    else
      std::printf("tokens spent: %" G_GINT64_FORMAT " (input %" G_GINT64_FORMAT
                  ", output %" G_GINT64_FORMAT ")\n",
                  total, input, output);
  }
}

// Errors carry details: the HTTP status and the service's own message help decide what to do
// (a 401 needs another key, a 402 more balance, a 400 names the property to fix).
void print_error(GstMessage *message) {
  GError *error = nullptr;
  gchar *debug = nullptr;
  gst_message_parse_error(message, &error, &debug);
  std::fprintf(stderr, "error: %s\n", error->message);
  const GstStructure *details = nullptr;
  gst_message_parse_error_details(message, &details);
  guint status = 0;
  if (details && gst_structure_get_uint(details, "http-status-code", &status))
    std::fprintf(stderr, "http status: %u\n", status);
  g_clear_error(&error);
  g_free(debug);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  const char *prompt = argc > 1 ? argv[1] : "a lighthouse on a cliff at dusk";

  GstElement *pipeline = gst_pipeline_new("see2ai-app");
  GstElement *source = gst_element_factory_make("see2aivideosrc", "source");
  if (!source) {
    std::fprintf(stderr, "see2aivideosrc not found: is the plugin on GST_PLUGIN_PATH?\n");
    gst_object_unref(pipeline);
    return 2;
  }
  g_object_set(source, "prompt", prompt, "duration", 4, nullptr);
  gst_util_set_object_arg(G_OBJECT(source), "resolution", "480p");
  gst_bin_add(GST_BIN(pipeline), source);
  if (!add_branch(GST_BIN(pipeline), "videoconvert", "video-convert") ||
      !add_branch(GST_BIN(pipeline), "audioconvert", "audio-convert")) {
    std::fprintf(stderr, "cannot build the pipeline\n");
    gst_object_unref(pipeline);
    return 2;
  }
  g_signal_connect(source, "pad-added", G_CALLBACK(on_pad_added), pipeline);

  // The request is submitted on the way to PAUSED; progress messages follow while it runs.
  gst_element_set_state(pipeline, GST_STATE_PLAYING);

  int exit_code = 1;
  GstBus *bus = gst_element_get_bus(pipeline);
  for (bool running = true; running;) {
    GstMessage *message = gst_bus_timed_pop_filtered(
        bus, GST_CLOCK_TIME_NONE,
        static_cast<GstMessageType>(GST_MESSAGE_PROGRESS | GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR |
                                    GST_MESSAGE_EOS));
    switch (GST_MESSAGE_TYPE(message)) {
      case GST_MESSAGE_PROGRESS:
        print_progress(message);
        break;
      case GST_MESSAGE_ELEMENT:
        print_element_message(message);
        break;
      case GST_MESSAGE_ERROR:
        print_error(message);
        running = false;
        break;
      case GST_MESSAGE_EOS:
        std::printf("done\n");
        exit_code = 0;
        running = false;
        break;
      default:
        break;
    }
    gst_message_unref(message);
  }
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  return exit_code;
}
