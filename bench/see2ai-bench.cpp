// see2ai-bench: runs one gst-launch style pipeline and prints JSON lines with wall-clock epoch
// microseconds: PLAYING, each see2ai-task/see2ai-result/see2ai-shot message, each element's first
// video buffer, EOS and how many video buffers each pushed, for bench/bench.py to set against the
// dev server's log. Elements named "probe..." (e.g. an identity after a reference decoder) count
// as sources too: the first buffer on their src pad is reported the same way. For live channels,
// --append adds shots to the element named "s" once its first shot is on air, and
// --stop-after-shot ends the run when a given shot goes on air.
#include <gst/gst.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace {

std::mutex print_lock;

void print_event(const std::string &fields) {
  std::lock_guard<std::mutex> guard(print_lock);
  printf("{\"wall_us\":%" G_GINT64_FORMAT ",%s}\n", g_get_real_time(), fields.c_str());
  fflush(stdout);
}

std::string quoted(const char *text) {
  gchar *escaped = g_strescape(text ? text : "", nullptr);
  std::string result = std::string("\"") + escaped + "\"";
  g_free(escaped);
  return result;
}

struct Run {
  GMainLoop *loop = nullptr;
  GstElement *pipeline = nullptr;
  bool stop_at_first_buffer = false;
  gchar **append = nullptr;  // prompts of the shots to append once shot 0 is on air
  gint append_duration = 4;
  gint stop_after_shot = -1;
  int sources = 0;
  std::mutex lock;
  std::map<std::string, long> video_buffers;  // per source that has pushed any
  int exit_code = 0;
};

GstPadProbeReturn on_video_buffer(GstPad *pad, GstPadProbeInfo *, gpointer data) {
  auto *run = static_cast<Run *>(data);
  const char *name = GST_OBJECT_NAME(GST_OBJECT_PARENT(pad));
  bool first = false;
  bool all_started = false;
  {
    std::lock_guard<std::mutex> guard(run->lock);
    first = ++run->video_buffers[name] == 1;
    all_started = static_cast<int>(run->video_buffers.size()) == run->sources;
  }
  if (!first) return GST_PAD_PROBE_OK;
  print_event("\"event\":\"first-video-buffer\",\"element\":" + quoted(name));
  if (all_started && run->stop_at_first_buffer) g_main_loop_quit(run->loop);
  return GST_PAD_PROBE_OK;
}

void on_pad_added(GstElement *, GstPad *pad, gpointer data) {
  gchar *pad_name = gst_pad_get_name(pad);
  if (g_str_has_prefix(pad_name, "video"))
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_video_buffer, data, nullptr);
  g_free(pad_name);
}

// The pipeline's running time now (its clock minus its base time), -1 before it has a clock.
gint64 running_time_now(GstElement *pipeline) {
  GstClock *clock = gst_element_get_clock(pipeline);
  if (!clock) return -1;
  const GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  const GstClockTime base = gst_element_get_base_time(pipeline);
  return now >= base ? static_cast<gint64>(now - base) : -1;
}

// Runs on the thread that posts, so the timestamp is when the element decided, not when the main
// loop got round to it.
GstBusSyncReply on_message_sync(GstBus *, GstMessage *message, gpointer data) {
  auto *run = static_cast<Run *>(data);
  if (GST_MESSAGE_TYPE(message) != GST_MESSAGE_ELEMENT) return GST_BUS_PASS;
  const GstStructure *s = gst_message_get_structure(message);
  if (!s) return GST_BUS_PASS;
  const std::string element = quoted(GST_OBJECT_NAME(GST_MESSAGE_SRC(message)));
  guint shot = 0;
  gst_structure_get_uint(s, "shot", &shot);
  if (gst_structure_has_name(s, "see2ai-shot")) {
    guint index = 0;
    guint64 running = 0, stream = 0;
    gst_structure_get_uint(s, "index", &index);
    gst_structure_get_uint64(s, "running-time", &running);
    gst_structure_get_uint64(s, "stream-time", &stream);
    print_event(
        "\"event\":\"shot\",\"element\":" + element + ",\"index\":" + std::to_string(index) +
        ",\"running_ns\":" + std::to_string(running) + ",\"stream_ns\":" + std::to_string(stream));
    return GST_BUS_PASS;
  }
  bool task = gst_structure_has_name(s, "see2ai-task");
  if (!task && !gst_structure_has_name(s, "see2ai-result")) return GST_BUS_PASS;
  gboolean from_cache = FALSE;
  gst_structure_get_boolean(s, "from-cache", &from_cache);
  std::string fields =
      std::string("\"event\":\"") + (task ? "task" : "result") + "\",\"element\":" + element +
      ",\"task_id\":" + quoted(gst_structure_get_string(s, "task-id")) +
      ",\"state\":" + quoted(gst_structure_get_string(s, "state")) +
      ",\"from_cache\":" + (from_cache ? "true" : "false") + ",\"shot\":" + std::to_string(shot) +
      ",\"running_ns\":" + std::to_string(running_time_now(run->pipeline));
  print_event(fields);
  return GST_BUS_PASS;
}

// Once shot 0 is on air, the shots of --append join the sequence of the element named "s" (from
// the main loop: the on-air message is posted from the element's streaming thread).
void append_shots(Run *run) {
  GstElement *source = gst_bin_get_by_name(GST_BIN(run->pipeline), "s");
  if (!source) {
    print_event("\"event\":\"error\",\"message\":\"--append needs an element named s\"");
    run->exit_code = 1;
    g_main_loop_quit(run->loop);
    return;
  }
  for (gchar **prompt = run->append; *prompt; ++prompt) {
    GstStructure *fields = gst_structure_new("shot", "prompt", G_TYPE_STRING, *prompt, "duration",
                                             G_TYPE_INT, run->append_duration, nullptr);
    gboolean accepted = FALSE;
    g_signal_emit_by_name(source, "append-shot", fields, &accepted);
    gst_structure_free(fields);
    print_event("\"event\":\"appended\",\"prompt\":" + quoted(*prompt) +
                ",\"accepted\":" + (accepted ? "true" : "false"));
  }
  gst_object_unref(source);
}

gboolean on_message(GstBus *, GstMessage *message, gpointer data) {
  auto *run = static_cast<Run *>(data);
  const GstStructure *s = gst_message_get_structure(message);
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ELEMENT && s &&
      gst_structure_has_name(s, "see2ai-shot")) {
    guint index = 0;
    gst_structure_get_uint(s, "index", &index);
    if (index == 0 && run->append) append_shots(run);
    if (run->stop_after_shot >= 0 && index == static_cast<guint>(run->stop_after_shot)) {
      print_event("\"event\":\"stopped\"");
      g_main_loop_quit(run->loop);
    }
  } else if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_EOS) {
    print_event("\"event\":\"eos\"");
    std::lock_guard<std::mutex> guard(run->lock);
    for (const auto &[name, count] : run->video_buffers)
      print_event("\"event\":\"video-buffers\",\"element\":" + quoted(name.c_str()) +
                  ",\"count\":" + std::to_string(count));
    g_main_loop_quit(run->loop);
  } else if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
    GError *error = nullptr;
    gst_message_parse_error(message, &error, nullptr);
    print_event("\"event\":\"error\",\"message\":" + quoted(error->message));
    g_error_free(error);
    run->exit_code = 1;
    g_main_loop_quit(run->loop);
  }
  return G_SOURCE_CONTINUE;
}

gboolean on_deadline(gpointer data) {
  auto *run = static_cast<Run *>(data);
  print_event("\"event\":\"timeout\"");
  run->exit_code = 2;
  g_main_loop_quit(run->loop);
  return G_SOURCE_REMOVE;
}

}  // namespace

int main(int argc, char **argv) {
  gboolean first_buffer = FALSE;
  gint deadline_s = 120;
  Run run;
  GOptionEntry entries[] = {
      {"first-buffer", 0, 0, G_OPTION_ARG_NONE, &first_buffer,
       "Stop once every see2aivideosrc pushed its first video buffer", nullptr},
      {"deadline", 0, 0, G_OPTION_ARG_INT, &deadline_s, "Give up after this many seconds", "S"},
      {"append", 0, 0, G_OPTION_ARG_STRING_ARRAY, &run.append,
       "Append a shot with this prompt to the element named s once its shot 0 is on air "
       "(repeatable)",
       "PROMPT"},
      {"append-duration", 0, 0, G_OPTION_ARG_INT, &run.append_duration,
       "The appended shots' duration in seconds (default 4)", "S"},
      {"stop-after-shot", 0, 0, G_OPTION_ARG_INT, &run.stop_after_shot,
       "Stop when the shot with this index goes on air", "N"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext *options = g_option_context_new("PIPELINE-DESCRIPTION");
  g_option_context_add_main_entries(options, entries, nullptr);
  g_option_context_add_group(options, gst_init_get_option_group());
  GError *error = nullptr;
  if (!g_option_context_parse(options, &argc, &argv, &error) || argc != 2) {
    fprintf(stderr, "see2ai-bench: %s\n", error ? error->message : "give one pipeline description");
    g_clear_error(&error);
    g_option_context_free(options);
    return 2;
  }
  g_option_context_free(options);

  GstElement *pipeline = gst_parse_launch(argv[1], &error);
  if (!pipeline) {
    fprintf(stderr, "see2ai-bench: %s\n", error->message);
    g_error_free(error);
    return 2;
  }
  run.loop = g_main_loop_new(nullptr, FALSE);
  run.pipeline = pipeline;
  run.stop_at_first_buffer = first_buffer;

  GstIterator *elements = gst_bin_iterate_recurse(GST_BIN(pipeline));
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(elements, &item) == GST_ITERATOR_OK) {
    auto *element = GST_ELEMENT(g_value_get_object(&item));
    GstElementFactory *factory = gst_element_get_factory(element);
    if (factory && g_str_equal(GST_OBJECT_NAME(factory), "see2aivideosrc")) {
      ++run.sources;
      g_signal_connect(element, "pad-added", G_CALLBACK(on_pad_added), &run);
    } else if (g_str_has_prefix(GST_OBJECT_NAME(element), "probe")) {
      GstPad *src_pad = gst_element_get_static_pad(element, "src");
      if (src_pad) {
        ++run.sources;
        gst_pad_add_probe(src_pad, GST_PAD_PROBE_TYPE_BUFFER, on_video_buffer, &run, nullptr);
        gst_object_unref(src_pad);
      }
    }
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(elements);

  GstBus *bus = gst_element_get_bus(pipeline);
  gst_bus_set_sync_handler(bus, on_message_sync, &run, nullptr);
  gst_bus_add_watch(bus, on_message, &run);
  g_timeout_add_seconds(static_cast<guint>(deadline_s), on_deadline, &run);

  print_event("\"event\":\"playing\"");
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    run.exit_code = 1;
  else
    g_main_loop_run(run.loop);

  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_bus_remove_watch(bus);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  g_main_loop_unref(run.loop);
  g_strfreev(run.append);
  return run.exit_code;
}
