// see2aivideosrc lifetime: a thousand NULL->PLAYING->NULL cycles in every phase of a job,
// gst_harness state-change and property stress, and GStreamer's leaks tracer after gst_deinit.
#include <gio/gio.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "devserver_process.h"

using see2ai::test::DevServerArgs;
using see2ai::test::DevServerProcess;

namespace {

constexpr const char *kKey = "test-key-0123456789";
// GStreamer's and GLib's thread pools keep a few idle threads around for reuse.
constexpr int kPoolThreadSlack = 8;

int thread_count() {
  int count = 0;
  GDir *dir = g_dir_open("/proc/self/task", 0, nullptr);
  if (!dir) return -1;
  while (g_dir_read_name(dir)) ++count;
  g_dir_close(dir);
  return count;
}

// Threads told to stop may still be exiting: waits (bounded) for the count to come down.
int settled_thread_count(int limit) {
  gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  int count = thread_count();
  while (count > limit && g_get_monotonic_time() < deadline) {
    g_usleep(10 * 1000);
    count = thread_count();
  }
  return count;
}

std::string submit_task(DevServerProcess &server, const std::string &prompt, bool sync) {
  std::string body;
  int status = server.post_json("/api/v1/actions/see2ai_video_generation_v1",
                                R"({"prompt":")" + prompt +
                                    R"(","duration":4,"resolution":"480p","generate_audio":true,)"
                                    R"("sync":)" +
                                    (sync ? "true" : "false") + "}",
                                kKey, &body);
  if (status != 200) return {};
  JsonParser *parser = json_parser_new();
  std::string task_id;
  if (json_parser_load_from_data(parser, body.c_str(), -1, nullptr))
    task_id = json_object_get_string_member(json_node_get_object(json_parser_get_root(parser)),
                                            "task_id");
  g_object_unref(parser);
  return task_id;
}

// Request-log lines of the server that contain `text`.
int count_lines(DevServerProcess &server, const char *text) {
  int count = 0;
  for (const auto &line : server.request_log())
    if (line.find(text) != std::string::npos) ++count;
  return count;
}

// What a cycle waits for between PLAYING and the return to NULL.
enum class Until {
  Nothing,           // straight back: the job is cancelled wherever it is
  Submitting,        // the progress START of the submit: the POST is on its way
  TaskState,         // the first see2ai-task message: a status answer is in
  Succeeded,         // see2ai-task in state succeeded: the download starts now
  StreamCollection,  // the decoder opened the (possibly still growing) file
  Preroll,           // ASYNC_DONE of the pipeline
  Eos,               // the whole clip was played
};

// A pipeline with one see2aivideosrc whose pads are linked to fakesinks each time they appear
// (a parsed pipeline would link them only the first time).
class CyclingPipeline {
 public:
  explicit CyclingPipeline(const std::string &source_properties) {
    GError *error = nullptr;
    source_ = gst_parse_launch(("see2aivideosrc " + source_properties).c_str(), &error);
    if (error) {
      ADD_FAILURE() << error->message;
      g_error_free(error);
    }
    pipeline_ = gst_pipeline_new("cycling");
    video_sink_ = gst_element_factory_make("fakesink", "video_sink");
    audio_sink_ = gst_element_factory_make("fakesink", "audio_sink");
    g_object_set(video_sink_, "sync", FALSE, nullptr);
    g_object_set(audio_sink_, "sync", FALSE, nullptr);
    gst_bin_add_many(GST_BIN(pipeline_), source_, video_sink_, audio_sink_, nullptr);
    g_signal_connect(source_, "pad-added", G_CALLBACK(on_pad_added), this);
    GstPad *video_in = gst_element_get_static_pad(video_sink_, "sink");
    gst_pad_add_probe(
        video_in, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad *, GstPadProbeInfo *, gpointer data) {
          static_cast<CyclingPipeline *>(data)->video_buffers++;
          return GST_PAD_PROBE_OK;
        },
        this, nullptr);
    gst_object_unref(video_in);
    bus_ = gst_element_get_bus(pipeline_);
  }
  ~CyclingPipeline() {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(bus_);
    gst_object_unref(pipeline_);
  }

  // NULL -> PLAYING, wait, -> NULL; counts every failure instead of asserting 1000 times.
  // `also`: a further condition (on the server's side) polled after the bus wait.
  void cycle(Until until, const std::function<bool()> &also = nullptr) {
    ++cycles;
    GstStateChangeReturn up = gst_element_set_state(pipeline_, GST_STATE_PLAYING);
    if (up == GST_STATE_CHANGE_FAILURE) note("set_state(PLAYING) failed");
    if (until != Until::Nothing && !wait_for(until)) note("nothing came to wait for");
    if (also && !poll(also)) note("the server never saw it");
    gint64 start = g_get_monotonic_time();
    GstStateChangeReturn down = gst_element_set_state(pipeline_, GST_STATE_NULL);
    double seconds = static_cast<double>(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
    slowest_null_s = std::max(slowest_null_s, seconds);
    if (down != GST_STATE_CHANGE_SUCCESS) note("set_state(NULL) did not succeed");
    if (seconds >= 1.0) note("the return to NULL took " + std::to_string(seconds) + " s");
    while (GstMessage *msg = gst_bus_pop(bus_)) {
      inspect(msg);
      gst_message_unref(msg);
    }
  }

  void expect_clean() const {
    EXPECT_EQ(failures, 0) << "first: " << first_failure;
    EXPECT_EQ(errors, 0) << "first error: " << first_error;
    EXPECT_LT(slowest_null_s, 1.0);
  }

  int cycles = 0;
  int failures = 0;
  int errors = 0;
  int eos = 0;
  std::atomic<int> video_buffers{0};
  std::string first_failure, first_error;
  double slowest_null_s = 0;

 private:
  static void on_pad_added(GstElement *, GstPad *pad, gpointer data) {
    auto *self = static_cast<CyclingPipeline *>(data);
    GstElement *sink =
        g_str_equal(GST_PAD_NAME(pad), "audio") ? self->audio_sink_ : self->video_sink_;
    GstPad *sink_pad = gst_element_get_static_pad(sink, "sink");
    if (gst_pad_link(pad, sink_pad) != GST_PAD_LINK_OK)
      self->note(std::string("cannot link pad ") + GST_PAD_NAME(pad));
    gst_object_unref(sink_pad);
  }

  void note(const std::string &what) {
    if (failures++ == 0) first_failure = "cycle " + std::to_string(cycles) + ": " + what;
  }

  // True when this message ends the wait.
  bool inspect(GstMessage *msg) {
    switch (GST_MESSAGE_TYPE(msg)) {
      case GST_MESSAGE_ERROR: {
        GError *error = nullptr;
        gst_message_parse_error(msg, &error, nullptr);
        if (errors++ == 0) first_error = "cycle " + std::to_string(cycles) + ": " + error->message;
        g_error_free(error);
        return true;
      }
      case GST_MESSAGE_EOS:
        ++eos;
        return waiting_ == Until::Eos;
      case GST_MESSAGE_ASYNC_DONE:
        return waiting_ == Until::Preroll && GST_MESSAGE_SRC(msg) == GST_OBJECT(pipeline_);
      case GST_MESSAGE_STREAM_COLLECTION:
        return waiting_ == Until::StreamCollection;
      case GST_MESSAGE_PROGRESS: {
        GstProgressType type;
        gst_message_parse_progress(msg, &type, nullptr, nullptr);
        return waiting_ == Until::Submitting && type == GST_PROGRESS_TYPE_START;
      }
      case GST_MESSAGE_ELEMENT: {
        const GstStructure *s = gst_message_get_structure(msg);
        if (!s || !gst_structure_has_name(s, "see2ai-task")) return false;
        if (waiting_ == Until::TaskState) return true;
        return waiting_ == Until::Succeeded &&
               g_strcmp0(gst_structure_get_string(s, "state"), "succeeded") == 0;
      }
      default:
        return false;
    }
  }

  static bool poll(const std::function<bool()> &ready) {
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;  // a hang guard
    while (!ready()) {
      if (g_get_monotonic_time() > deadline) return false;
      g_usleep(5 * 1000);
    }
    return true;
  }

  bool wait_for(Until until) {
    waiting_ = until;
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;  // a hang guard
    bool reached = false;
    while (!reached) {
      gint64 left = deadline - g_get_monotonic_time();
      if (left <= 0) break;
      GstMessage *msg = gst_bus_timed_pop(bus_, static_cast<GstClockTime>(left) * GST_USECOND);
      if (!msg) break;
      bool error = GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR;
      reached = inspect(msg);
      gst_message_unref(msg);
      if (error) break;
    }
    waiting_ = Until::Nothing;
    return reached;
  }

  GstElement *pipeline_ = nullptr;
  GstElement *source_ = nullptr;
  GstElement *video_sink_ = nullptr;
  GstElement *audio_sink_ = nullptr;
  GstBus *bus_ = nullptr;
  Until waiting_ = Until::Nothing;
};

class LifetimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    server_ = new DevServerProcess(DevServerArgs{});
    cache_dir_ = see2ai::test::make_temp_dir("lifetime-cache");
    // Fills the cache and warms GStreamer's and GLib's thread pools up.
    CyclingPipeline warm(cached_source());
    warm.cycle(Until::Eos);
    warm.expect_clean();
    ASSERT_EQ(warm.eos, 1);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::string cached_source() {
    return "api-url=" + server_->url() + " api-key=" + kKey + " cache-dir=" + cache_dir_ +
           " poll-interval=100 prompt=\"cycled\" duration=4 resolution=480p";
  }
  static DevServerProcess *server_;
  static std::string cache_dir_;
};
DevServerProcess *LifetimeTest::server_ = nullptr;
std::string LifetimeTest::cache_dir_;

// 500 of the 1000 cycles: the clip is in the cache, so each cycle is the element's own work; 100
// of them live (NO_PREROLL, paced by the clock).
TEST_F(LifetimeTest, FiveHundredCyclesFromTheCache) {
  int threads_before = thread_count();
  size_t requests_before = server_->request_log().size();
  {
    CyclingPipeline pipeline(cached_source());
    for (int i = 0; i < 400; ++i) {
      static const Until kinds[] = {Until::Nothing, Until::Preroll, Until::TaskState,
                                    Until::StreamCollection};
      pipeline.cycle(i % 40 == 39 ? Until::Eos : kinds[i % 4]);
    }
    pipeline.expect_clean();
    EXPECT_EQ(pipeline.eos, 10);
    EXPECT_GE(pipeline.video_buffers, 10 * 4 * 24) << "the played cycles did not play the clip";
  }
  {
    CyclingPipeline live(cached_source() + " is-live=true");
    for (int i = 0; i < 100; ++i) live.cycle(i % 2 ? Until::Preroll : Until::Nothing);
    live.expect_clean();
    EXPECT_GT(live.video_buffers, 0);
  }
  EXPECT_EQ(server_->request_log().size(), requests_before) << "a cache hit made a request";
  EXPECT_LE(settled_thread_count(threads_before + kPoolThreadSlack),
            threads_before + kPoolThreadSlack);
}

// Four pipelines cycling at once on the same cached clip: the cache is read concurrently, and each
// element's threads start and stop while the others' run.
TEST_F(LifetimeTest, FourPipelinesCyclingTogetherOnTheSameCachedClip) {
  int threads_before = thread_count();
  std::vector<std::thread> runners;
  std::vector<std::unique_ptr<CyclingPipeline>> pipelines;
  for (int p = 0; p < 4; ++p)
    pipelines.push_back(std::make_unique<CyclingPipeline>(cached_source()));
  for (auto &pipeline : pipelines)
    runners.emplace_back([&pipeline] {
      for (int i = 0; i < 40; ++i)
        pipeline->cycle(i % 10 == 9 ? Until::Eos : i % 2 ? Until::Preroll : Until::Nothing);
    });
  for (auto &runner : runners) runner.join();
  for (auto &pipeline : pipelines) {
    pipeline->expect_clean();
    EXPECT_EQ(pipeline->eos, 4);
  }
  pipelines.clear();
  EXPECT_LE(settled_thread_count(threads_before + kPoolThreadSlack),
            threads_before + kPoolThreadSlack);
}

// 400 cycles attached to a task that is still generating: each cycle cancels a poll loop.
TEST_F(LifetimeTest, FourHundredCyclesWhileTheTaskIsGenerating) {
  DevServerArgs args;
  args.latency_ms = 10 * 60 * 1000;
  DevServerProcess slow(args);
  std::string task_id = submit_task(slow, "still generating", false);
  ASSERT_FALSE(task_id.empty());
  int threads_before = thread_count();
  {
    CyclingPipeline pipeline("api-url=" + slow.url() + " api-key=" + kKey + " task-id=" + task_id +
                             " cache-mode=off poll-interval=100");
    for (int i = 0; i < 400; ++i) pipeline.cycle(i % 2 ? Until::TaskState : Until::Nothing);
    pipeline.expect_clean();
  }
  size_t polls = 0;
  for (const auto &line : slow.request_log())
    if (line.find("/api/v1/status/") != std::string::npos) ++polls;
  EXPECT_GE(polls, 200u) << "half of the cycles wait for a status answer";
  EXPECT_LE(settled_thread_count(threads_before + kPoolThreadSlack),
            threads_before + kPoolThreadSlack);
}

// 100 cycles attached to a finished task whose download trickles: each cycle cancels a download,
// most of them with the decoder already reading the growing file.
TEST_F(LifetimeTest, HundredCyclesWhileTheClipIsDownloading) {
  DevServerProcess trickling;
  std::string task_id = submit_task(trickling, "still downloading", true);
  ASSERT_FALSE(task_id.empty());
  trickling.add_faults(R"([{"match":"download","times":-1,"rate":20000}])");
  int threads_before = thread_count();
  {
    CyclingPipeline pipeline("api-url=" + trickling.url() + " api-key=" + kKey +
                             " task-id=" + task_id + " cache-mode=off poll-interval=100");
    for (int i = 0; i < 100; ++i)
      pipeline.cycle(i % 5 == 0 ? Until::Succeeded : Until::StreamCollection);
    pipeline.expect_clean();
    EXPECT_EQ(pipeline.eos, 0) << "a download finished: the cycles were not mid-download";
  }
  EXPECT_LE(settled_thread_count(threads_before + kPoolThreadSlack),
            threads_before + kPoolThreadSlack);
}

// Beyond the thousand: the two waits with no polling rhythm to fall back on, a sync POST the
// service holds and a download whose body never comes; each must still give way at once.
TEST_F(LifetimeTest, CyclesWhileASyncSubmitIsHeld) {
  DevServerArgs args;
  args.latency_ms = 10 * 60 * 1000;
  DevServerProcess slow(args);
  int threads_before = thread_count();
  {
    CyclingPipeline pipeline("api-url=" + slow.url() + " api-key=" + kKey +
                             " cache-mode=off sync=true prompt=\"held\" duration=4"
                             " resolution=480p generate-audio=false");
    // Back to NULL once the service holds this cycle's POST (its task is queued).
    for (int i = 1; i <= 20; ++i)
      pipeline.cycle(Until::Submitting, [&slow, i] { return count_lines(slow, "queued") >= i; });
    pipeline.expect_clean();
  }
  EXPECT_LE(settled_thread_count(threads_before + kPoolThreadSlack),
            threads_before + kPoolThreadSlack);
}

TEST_F(LifetimeTest, CyclesWhileTheDownloadStalls) {
  DevServerProcess stalling;
  std::string task_id = submit_task(stalling, "stalled download", true);
  ASSERT_FALSE(task_id.empty());
  stalling.add_faults(R"([{"match":"download","times":-1,"stall_after_headers":true}])");
  int threads_before = thread_count();
  {
    CyclingPipeline pipeline("api-url=" + stalling.url() + " api-key=" + kKey +
                             " task-id=" + task_id + " cache-mode=off poll-interval=100");
    // Each cycle goes back to NULL only once the server has sent this cycle's download headers
    // and stalls (it logs the request as it starts to hold it): every return to NULL cuts a
    // silent read, whatever the machine's speed.
    for (int i = 1; i <= 20; ++i)
      pipeline.cycle(Until::Succeeded,
                     [&stalling, i] { return count_lines(stalling, "stall_after_headers") >= i; });
    pipeline.expect_clean();
  }
  EXPECT_EQ(count_lines(stalling, "stall_after_headers"), 20);
  EXPECT_LE(settled_thread_count(threads_before + kPoolThreadSlack),
            threads_before + kPoolThreadSlack);
}

// ---- gst_harness stress ----

void link_video_to_harness(GstElement *, GstPad *pad, gpointer data) {
  auto *harness = static_cast<GstHarness *>(data);
  if (g_str_equal(GST_PAD_NAME(pad), "video")) gst_pad_link(pad, harness->sinkpad);
}

void read_result_and_task(gpointer, gpointer element) {
  GstStructure *result = nullptr;
  gchar *task_id = nullptr;
  g_object_get(element, "result", &result, "task-id", &task_id, nullptr);
  if (result) gst_structure_free(result);
  g_free(task_id);
}

// The element alone in a harness, its video pad linked to the harness whenever it appears.
struct HarnessedSource {
  explicit HarnessedSource(const std::string &properties) {
    GError *error = nullptr;
    element = gst_parse_launch(("see2aivideosrc " + properties).c_str(), &error);
    EXPECT_EQ(error, nullptr) << (error ? error->message : "");
    g_clear_error(&error);
    harness = gst_harness_new_with_element(element, nullptr, nullptr);
    bus = gst_bus_new();
    gst_element_set_bus(element, bus);
    gst_harness_set_drop_buffers(harness, TRUE);
    g_signal_connect(element, "pad-added", G_CALLBACK(link_video_to_harness), harness);
  }
  ~HarnessedSource() {
    gst_harness_teardown(harness);
    gst_element_set_bus(element, nullptr);
    gst_object_unref(bus);
    gst_object_unref(element);
  }
  int errors(std::string *first) {
    int count = 0;
    while (GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      if (count++ == 0) {
        GError *error = nullptr;
        gst_message_parse_error(msg, &error, nullptr);
        *first = error->message;
        g_error_free(error);
      }
      gst_message_unref(msg);
    }
    return count;
  }
  GstElement *element = nullptr;
  GstHarness *harness = nullptr;
  GstBus *bus = nullptr;
};

TEST_F(LifetimeTest, HarnessStateAndPropertyStressThenPlaysTheClip) {
  int threads_before = thread_count();
  {
    HarnessedSource src(cached_source());
    GValue interval = G_VALUE_INIT, prompt = G_VALUE_INIT;
    g_value_init(&interval, G_TYPE_INT);
    g_value_set_int(&interval, 100);
    g_value_init(&prompt, G_TYPE_STRING);
    g_value_set_string(&prompt, "cycled");
    // 50 ms in PLAYING per cycle: long enough for a cache hit to push frames now and then.
    GstHarnessThread *states = gst_harness_stress_statechange_start_full(src.harness, 50 * 1000);
    GstHarnessThread *intervals =
        gst_harness_stress_property_start_full(src.harness, "poll-interval", &interval, 1000);
    GstHarnessThread *prompts =
        gst_harness_stress_property_start_full(src.harness, "prompt", &prompt, 1000);
    GstHarnessThread *readers = gst_harness_stress_custom_start(
        src.harness, nullptr, read_result_and_task, src.element, 1000);
    g_value_unset(&interval);
    g_value_unset(&prompt);
    // Five seconds of stress: the duration is the test's subject, not a wait for something.
    g_usleep(5 * G_USEC_PER_SEC);
    guint state_cycles = gst_harness_stress_thread_stop(states);
    EXPECT_GT(gst_harness_stress_thread_stop(intervals), 100u);
    EXPECT_GT(gst_harness_stress_thread_stop(prompts), 100u);
    EXPECT_GT(gst_harness_stress_thread_stop(readers), 100u);
    EXPECT_GT(state_cycles, 20u);
    EXPECT_GT(gst_harness_buffers_received(src.harness), 0u) << "no cycle got to play";
    EXPECT_EQ(gst_element_set_state(src.element, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    std::string first;
    EXPECT_EQ(src.errors(&first), 0) << first;

    // Still works: one whole play through the harness.
    while (GstEvent *event = gst_harness_try_pull_event(src.harness)) gst_event_unref(event);
    gst_harness_set_drop_buffers(src.harness, FALSE);
    guint before = gst_harness_buffers_received(src.harness);
    gst_harness_play(src.harness);
    bool eos = false;
    while (!eos) {
      GstEvent *event = gst_harness_pull_event(src.harness);  // waits, up to a minute
      if (!event) break;
      eos = GST_EVENT_TYPE(event) == GST_EVENT_EOS;
      gst_event_unref(event);
    }
    EXPECT_TRUE(eos);
    EXPECT_NEAR(static_cast<double>(gst_harness_buffers_received(src.harness) - before), 4 * 24, 1);
    EXPECT_EQ(src.errors(&first), 0) << first;
  }
  EXPECT_LE(settled_thread_count(threads_before + kPoolThreadSlack),
            threads_before + kPoolThreadSlack);
}

TEST_F(LifetimeTest, HarnessStateStressWhileTheTaskIsGenerating) {
  DevServerArgs args;
  args.latency_ms = 10 * 60 * 1000;
  DevServerProcess slow(args);
  std::string task_id = submit_task(slow, "harnessed while generating", false);
  ASSERT_FALSE(task_id.empty());
  int threads_before = thread_count();
  {
    HarnessedSource src("api-url=" + slow.url() + " api-key=" + kKey + " task-id=" + task_id +
                        " cache-mode=off poll-interval=100");
    GstHarnessThread *states = gst_harness_stress_statechange_start(src.harness);
    g_usleep(3 * G_USEC_PER_SEC);
    EXPECT_GT(gst_harness_stress_thread_stop(states), 20u);
    EXPECT_EQ(gst_element_set_state(src.element, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    std::string first;
    EXPECT_EQ(src.errors(&first), 0) << first;
  }
  size_t polls = 0;
  for (const auto &line : slow.request_log())
    if (line.find("/api/v1/status/") != std::string::npos) ++polls;
  EXPECT_GT(polls, 0u) << "the cycles never reached the service";
  EXPECT_LE(settled_thread_count(threads_before + kPoolThreadSlack),
            threads_before + kPoolThreadSlack);
}

// ---- GStreamer's leaks tracer on gst-launch-1.0, which calls gst_deinit ----

// A gst-launch-1.0 run with the leaks tracer on; its output goes to files.
class TracedLaunch {
 public:
  TracedLaunch(const std::vector<std::string> &pipeline, const std::string &api_url) {
    dir_ = see2ai::test::make_temp_dir("leaks");
    GSubprocessLauncher *launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_subprocess_launcher_setenv(launcher, "SEE2AI_API_KEY", kKey, TRUE);
    g_subprocess_launcher_setenv(launcher, "SEE2AI_API_URL", api_url.c_str(), TRUE);
    g_subprocess_launcher_setenv(launcher, "GST_TRACERS", "leaks", TRUE);
    g_subprocess_launcher_setenv(launcher, "GST_DEBUG", "GST_TRACER:7", TRUE);
    g_subprocess_launcher_setenv(launcher, "GST_DEBUG_NO_COLOR", "1", TRUE);
    g_subprocess_launcher_set_stdout_file_path(launcher, (dir_ + "/stdout.txt").c_str());
    g_subprocess_launcher_set_stderr_file_path(launcher, (dir_ + "/stderr.txt").c_str());
    std::vector<const gchar *> argv = {"gst-launch-1.0"};
    for (const auto &part : pipeline) argv.push_back(part.c_str());
    argv.push_back(nullptr);
    GError *error = nullptr;
    process_ = g_subprocess_launcher_spawnv(launcher, argv.data(), &error);
    g_object_unref(launcher);
    EXPECT_NE(process_, nullptr) << (error ? error->message : "");
    g_clear_error(&error);
  }
  ~TracedLaunch() {
    if (process_) {
      g_subprocess_force_exit(process_);
      g_subprocess_wait(process_, nullptr, nullptr);
      g_object_unref(process_);
    }
  }
  void interrupt() { g_subprocess_send_signal(process_, SIGINT); }

  // Waits for the exit (bounded); false if it had to be killed.
  bool wait_exit(double timeout_s) {
    GMainContext *context = g_main_context_new();
    g_main_context_push_thread_default(context);
    struct State {
      bool done = false, timed_out = false;
    } state;
    g_subprocess_wait_async(
        process_, nullptr,
        [](GObject *, GAsyncResult *, gpointer data) { static_cast<State *>(data)->done = true; },
        &state);
    GSource *guard = g_timeout_source_new(static_cast<guint>(timeout_s * 1000));
    g_source_set_callback(
        guard,
        [](gpointer data) -> gboolean {
          static_cast<State *>(data)->timed_out = true;
          return G_SOURCE_REMOVE;
        },
        &state, nullptr);
    g_source_attach(guard, context);
    while (!state.done && !state.timed_out) g_main_context_iteration(context, TRUE);
    g_source_destroy(guard);
    g_source_unref(guard);
    if (!state.done) {
      g_subprocess_force_exit(process_);
      g_subprocess_wait(process_, nullptr, nullptr);
    }
    exit_status_ =
        g_subprocess_get_if_exited(process_) ? g_subprocess_get_exit_status(process_) : -1;
    g_main_context_pop_thread_default(context);
    g_main_context_unref(context);
    return state.done;
  }
  int exit_status() const { return exit_status_; }
  std::string output(const char *name) const {
    gchar *text = nullptr;
    gsize size = 0;
    if (!g_file_get_contents((dir_ + "/" + name).c_str(), &text, &size, nullptr)) return {};
    std::string result(text, size);
    g_free(text);
    return result;
  }
  // The tracer's "object-alive" records (not its format description lines).
  std::vector<std::string> alive_objects() const {
    std::vector<std::string> alive;
    std::string err = output("stderr.txt");
    size_t start = 0;
    while (start < err.size()) {
      size_t end = err.find('\n', start);
      if (end == std::string::npos) end = err.size();
      std::string line = err.substr(start, end - start);
      if (line.find("object-alive") != std::string::npos &&
          line.find("object-alive.class") == std::string::npos &&
          line.find("format string") == std::string::npos)
        alive.push_back(line);
      start = end + 1;
    }
    return alive;
  }
  bool tracer_active() const {
    return output("stderr.txt").find("object-alive.class") != std::string::npos;
  }

 private:
  std::string dir_;
  GSubprocess *process_ = nullptr;
  int exit_status_ = -1;
};

std::vector<std::string> two_pad_pipeline(const std::string &prompt,
                                          const std::vector<std::string> &extra) {
  std::vector<std::string> parts = {"see2aivideosrc",    "name=s",     "cache-mode=off",
                                    "poll-interval=100", "duration=4", "resolution=480p",
                                    "prompt=" + prompt};
  parts.insert(parts.end(), extra.begin(), extra.end());
  parts.insert(parts.end(), {"s.video", "!", "fakesink", "s.audio", "!", "fakesink"});
  return parts;
}

void expect_no_leak(const TracedLaunch &launch) {
  EXPECT_TRUE(launch.tracer_active()) << "the leaks tracer did not run";
  for (const auto &line : launch.alive_objects())
    ADD_FAILURE() << "alive after gst_deinit: " << line;
}

TEST_F(LifetimeTest, LeaksTracerFindsNothingAfterAFullPlay) {
  TracedLaunch launch(two_pad_pipeline("leak-check-play", {}), server_->url());
  ASSERT_TRUE(launch.wait_exit(60));
  EXPECT_EQ(launch.exit_status(), 0) << launch.output("stdout.txt");
  EXPECT_NE(launch.output("stdout.txt").find("Got EOS"), std::string::npos);
  expect_no_leak(launch);
}

TEST_F(LifetimeTest, LeaksTracerFindsNothingAfterAFailedRun) {
  DevServerProcess failing;
  failing.add_faults(R"([{"match":"status","status":500,"times":-1}])");
  TracedLaunch launch(two_pad_pipeline("leak-check-error", {"retries=1"}), failing.url());
  ASSERT_TRUE(launch.wait_exit(60));
  EXPECT_NE(launch.exit_status(), 0);
  EXPECT_NE(launch.output("stderr.txt").find("HTTP 500"), std::string::npos)
      << launch.output("stdout.txt");
  expect_no_leak(launch);
}

TEST_F(LifetimeTest, LeaksTracerFindsNothingAfterARefusedStart) {
  // duration=3 fails validation at READY->PAUSED: the start that never was must free everything.
  TracedLaunch launch(two_pad_pipeline("leak-check-refused", {"duration=3"}), server_->url());
  ASSERT_TRUE(launch.wait_exit(60));
  EXPECT_NE(launch.exit_status(), 0);
  EXPECT_NE(launch.output("stderr.txt").find("\"duration\""), std::string::npos)
      << launch.output("stderr.txt").substr(0, 2000);
  expect_no_leak(launch);
}

TEST_F(LifetimeTest, LeaksTracerFindsNothingAfterAnInterruptDuringGeneration) {
  DevServerArgs args;
  args.latency_ms = 10 * 60 * 1000;
  DevServerProcess slow(args);
  TracedLaunch launch(two_pad_pipeline("leak-check-interrupt", {}), slow.url());
  // Interrupted once the task is being polled: the job is mid-flight.
  gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
  bool polled = false;
  while (!polled && g_get_monotonic_time() < deadline) {
    for (const auto &line : slow.request_log())
      polled |= line.find("/api/v1/status/") != std::string::npos;
    if (!polled) g_usleep(20 * 1000);
  }
  ASSERT_TRUE(polled);
  launch.interrupt();
  ASSERT_TRUE(launch.wait_exit(30));
  EXPECT_NE(launch.output("stdout.txt").find("Interrupt"), std::string::npos)
      << launch.output("stdout.txt");
  expect_no_leak(launch);
}

}  // namespace
