// see2aivideosrc end to end: real pipelines against the real dev server on a loopback port.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "devserver_process.h"
#include "pipeline_run.h"

#include <json-glib/json-glib.h>

using see2ai::test::DevServerArgs;
using see2ai::test::DevServerProcess;
using see2ai::test::PipelineRun;

namespace {

constexpr const char *kKey = "test-key-0123456789";

int count_submits(DevServerProcess &server) {
  int posts = 0;
  for (const auto &line : server.request_log())
    if (line.find("\"method\":\"POST\"") != std::string::npos &&
        line.find("/api/v1/actions/") != std::string::npos)
      ++posts;
  return posts;
}

class ElementTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    server_ = new DevServerProcess(DevServerArgs{});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::string source(const std::string &extra) {
    return "see2aivideosrc api-url=" + server_->url() + " api-key=" + kKey +
           " cache-mode=off poll-interval=100 " + extra;
  }
  static DevServerProcess *server_;
};
DevServerProcess *ElementTest::server_ = nullptr;

TEST_F(ElementTest, GstInspectDescribesTheElement) {
  gchar *out = nullptr;
  gint status = -1;
  const gchar *argv[] = {"gst-inspect-1.0", "see2aivideosrc", nullptr};
  ASSERT_TRUE(g_spawn_sync(nullptr, const_cast<gchar **>(argv), nullptr, G_SPAWN_SEARCH_PATH,
                           nullptr, nullptr, &out, nullptr, &status, nullptr));
  std::string text = out ? out : "";
  g_free(out);
  EXPECT_TRUE(g_spawn_check_wait_status(status, nullptr));
  EXPECT_NE(text.find("Source/Video/Audio"), std::string::npos);
  for (const char *property : {"api-url", "api-key", "prompt", "duration", "resolution",
                               "aspect-ratio", "sync", "task-id", "cache-mode"})
    EXPECT_NE(text.find(std::string("  ") + property), std::string::npos) << property;
  EXPECT_NE(text.find("Availability: Sometimes"), std::string::npos);
}

TEST_F(ElementTest, EveryPropertyFollowsTheConventions) {
  GstElement *element = gst_element_factory_make("see2aivideosrc", nullptr);
  ASSERT_NE(element, nullptr);
  guint n = 0;
  GParamSpec **specs = g_object_class_list_properties(G_OBJECT_GET_CLASS(element), &n);
  int own = 0;
  for (guint i = 0; i < n; ++i) {
    GParamSpec *pspec = specs[i];
    if (pspec->owner_type != G_OBJECT_TYPE(element)) continue;  // name, parent
    ++own;
    const std::string name = pspec->name;
    EXPECT_EQ(name.find('_'), std::string::npos) << name << " is not kebab-case";
    EXPECT_STRNE(g_param_spec_get_nick(pspec), name.c_str()) << name << " has no nick";
    const char *blurb = g_param_spec_get_blurb(pspec);
    EXPECT_TRUE(blurb && std::strlen(blurb) > 10) << name << " has no blurb";
    if (pspec->flags & G_PARAM_WRITABLE) {
      // Only how a looping stream switches shots may change while it plays.
      EXPECT_TRUE(pspec->flags &
                  (name == "shot-switch" ? GST_PARAM_MUTABLE_PLAYING : GST_PARAM_MUTABLE_READY))
          << name;
    }
  }
  g_free(specs);
  // 19 request fields of the contract, 14 client settings, is-live and loop, and the shots':
  // shots, max-parallel, shot-switch, shot-failure.
  EXPECT_EQ(own, 39);
  GParamSpec *duration = g_object_class_find_property(G_OBJECT_GET_CLASS(element), "duration");
  ASSERT_TRUE(G_IS_PARAM_SPEC_INT(duration));
  EXPECT_EQ(G_PARAM_SPEC_INT(duration)->minimum, -1);
  EXPECT_EQ(G_PARAM_SPEC_INT(duration)->maximum, 15);
  EXPECT_EQ(G_PARAM_SPEC_INT(duration)->default_value, 5);
  gst_object_unref(element);
}

TEST_F(ElementTest, GstInspectOfThePluginIsClean) {
  for (const char *flag : {"", "--print-plugin-auto-install-info"}) {
    gchar *out = nullptr, *err = nullptr;
    gint status = -1;
    const gchar *argv[] = {"gst-inspect-1.0", *flag ? flag : "see2ai", *flag ? "see2ai" : nullptr,
                           nullptr};
    ASSERT_TRUE(g_spawn_sync(nullptr, const_cast<gchar **>(argv), nullptr, G_SPAWN_SEARCH_PATH,
                             nullptr, nullptr, &out, &err, &status, nullptr));
    std::string text = out ? out : "", errors = err ? err : "";
    g_free(out);
    g_free(err);
    EXPECT_TRUE(g_spawn_check_wait_status(status, nullptr)) << flag;
    EXPECT_EQ(errors, "") << flag;
    EXPECT_NE(text.find(*flag ? "element-see2aivideosrc" : "see2aivideosrc"), std::string::npos);
  }
}

TEST_F(ElementTest, GeneratesFramesWithMatchingCapsAndTimestamps) {
  PipelineRun run(
      source("prompt=\"a red fox\" duration=4 resolution=480p aspect-ratio=16:9 "
             "generate-audio=false ! appsink name=sink"));
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  ASSERT_TRUE(run.bus.eos);
  const auto &sink = run.sink("sink");
  EXPECT_NEAR(static_cast<double>(sink.pts.size()), 4 * 24, 1);
  EXPECT_EQ(sink.width, 854);
  EXPECT_EQ(sink.height, 480);
  ASSERT_FALSE(sink.pts.empty());
  EXPECT_EQ(sink.pts.front(), 0u);
  EXPECT_TRUE(std::is_sorted(sink.pts.begin(), sink.pts.end()));
  EXPECT_EQ(std::adjacent_find(sink.pts.begin(), sink.pts.end()), sink.pts.end());
  for (auto duration : sink.durations) EXPECT_NEAR(static_cast<double>(duration), 1e9 / 24, 1e6);
  EXPECT_TRUE(sink.discont.front());
}

TEST_F(ElementTest, VerticalAspectRatioGivesPortraitCaps) {
  PipelineRun run(
      source("prompt=\"a tall tower\" duration=4 resolution=480p aspect-ratio=9:16 "
             "generate-audio=false ! appsink name=sink"));
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  EXPECT_EQ(run.sink("sink").width, 480);
  EXPECT_EQ(run.sink("sink").height, 854);
}

TEST_F(ElementTest, VideoAndAudioPadsBothFlowAndAgree) {
  PipelineRun run(
      source("prompt=\"waves on a beach\" duration=4 resolution=480p name=s "
             "s.video ! appsink name=vsink s.audio ! appsink name=asink"));
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  ASSERT_TRUE(run.bus.eos);
  const auto &video = run.sink("vsink");
  const auto &audio = run.sink("asink");
  ASSERT_FALSE(video.pts.empty());
  ASSERT_FALSE(audio.pts.empty());
  EXPECT_NE(audio.caps.find("audio/x-raw"), std::string::npos);
  GstClockTime video_end = video.pts.back() + video.durations.back();
  GstClockTime audio_end = audio.pts.back() + audio.durations.back();
  EXPECT_NEAR(static_cast<double>(video_end), static_cast<double>(audio_end), 1e9 / 24);
}

TEST_F(ElementTest, ProgressAndResultMessagesArePosted) {
  PipelineRun run(
      source("prompt=\"a lighthouse\" duration=4 resolution=480p "
             "generate-audio=false ! appsink name=sink"));
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  ASSERT_FALSE(run.bus.progress.empty());
  EXPECT_EQ(run.bus.progress.front().rfind("start:", 0), 0u);
  EXPECT_TRUE(std::any_of(run.bus.progress.begin(), run.bus.progress.end(),
                          [](const std::string &p) { return p.rfind("complete:", 0) == 0; }));
  const GstStructure *result = nullptr;
  for (auto *s : run.bus.element_messages)
    if (gst_structure_has_name(s, "see2ai-result")) result = s;
  ASSERT_NE(result, nullptr);
  gint64 tokens = 0;
  EXPECT_TRUE(gst_structure_get_int64(result, "total-tokens", &tokens));
  EXPECT_GT(tokens, 0);
  EXPECT_STREQ(gst_structure_get_string(result, "state"), "succeeded");
  for (const char *field :
       {"task-id", "input-tokens", "output-tokens", "total-tokens", "cost-points", "cost-time",
        "model", "source", "provider-config-id", "result-urls", "warnings", "from-cache"})
    EXPECT_TRUE(gst_structure_has_field(result, field)) << field;
  // CONTINUE on each state change, with the state and the elapsed seconds.
  EXPECT_TRUE(
      std::any_of(run.bus.progress.begin(), run.bus.progress.end(), [](const std::string &p) {
        return p.rfind("continue:Task ", 0) == 0 && p.find(": running (") != std::string::npos &&
               p.find(" s)") != std::string::npos;
      }));
  std::vector<std::string> states;
  for (auto *s : run.bus.element_messages) {
    if (!gst_structure_has_name(s, "see2ai-task")) continue;
    states.push_back(gst_structure_get_string(s, "state"));
    EXPECT_TRUE(gst_structure_has_field(s, "elapsed-ms"));
    EXPECT_TRUE(gst_structure_has_field(s, "from-cache"));
    EXPECT_STREQ(gst_structure_get_string(s, "task-id"),
                 gst_structure_get_string(result, "task-id"));
  }
  EXPECT_EQ(states, (std::vector<std::string>{"queued", "running", "succeeded"}));
}

TEST_F(ElementTest, TaskIdIsReadableAndNotifiedOnceKnown) {
  PipelineRun run(
      source("name=src prompt=\"notify me\" duration=4 resolution=480p "
             "generate-audio=false ! appsink name=sink"));
  GstElement *src = run.by_name("src");
  ASSERT_NE(src, nullptr);
  std::string notified;
  std::mutex mutex;
  struct Seen {
    std::string *value;
    std::mutex *mutex;
  } seen{&notified, &mutex};
  g_signal_connect(src, "notify::task-id",
                   G_CALLBACK(+[](GObject *object, GParamSpec *, gpointer data) {
                     auto *seen = static_cast<Seen *>(data);
                     gchar *id = nullptr;
                     g_object_get(object, "task-id", &id, nullptr);
                     std::lock_guard<std::mutex> guard(*seen->mutex);
                     *seen->value = id ? id : "";
                     g_free(id);
                   }),
                   &seen);
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  gchar *task_id = nullptr;
  g_object_get(src, "task-id", &task_id, nullptr);
  ASSERT_NE(task_id, nullptr);
  const GstStructure *result = nullptr;
  for (auto *s : run.bus.element_messages)
    if (gst_structure_has_name(s, "see2ai-result")) result = s;
  ASSERT_NE(result, nullptr);
  EXPECT_STREQ(task_id, gst_structure_get_string(result, "task-id"));
  {
    std::lock_guard<std::mutex> guard(mutex);
    EXPECT_EQ(notified, task_id);
  }
  g_free(task_id);
  gst_element_set_state(run.pipeline(), GST_STATE_NULL);
  g_signal_handlers_disconnect_by_data(src, &seen);
  gst_object_unref(src);
}

// The request the dev server logged for the task this run made (its "submit" event).
JsonObject *logged_request(DevServerProcess &server, const std::string &task_id,
                           JsonParser *parser) {
  for (const auto &line : server.request_log()) {
    if (line.find("\"event\":\"submit\"") == std::string::npos ||
        line.find("\"" + task_id + "\"") == std::string::npos)
      continue;
    if (!json_parser_load_from_data(parser, line.c_str(), -1, nullptr)) return nullptr;
    return json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
                                         "request");
  }
  return nullptr;
}

std::vector<std::string> string_list(JsonObject *object, const char *name) {
  std::vector<std::string> list;
  JsonArray *array = json_object_get_array_member(object, name);
  for (guint i = 0; array && i < json_array_get_length(array); ++i)
    list.emplace_back(json_array_get_string_element(array, i));
  return list;
}

TEST_F(ElementTest, EveryRequestPropertyReachesTheServiceAsItsField) {
  PipelineRun run(
      source("name=src model=fast prompt=\"every field\" non-face-image-url=https://h/a.png "
             "non-face-image-urls=\"<https://h/b.png, https://h/c.png>\" "
             "face-image-url=https://h/face.png video-url=https://h/v.mp4 "
             "video-urls=\"<https://h/w.mp4>\" audio-url=https://h/a.wav "
             "audio-urls=\"<https://h/b.wav, https://h/c.wav>\" duration=4 resolution=480p "
             "aspect-ratio=1:1 watermark=true generate-audio=false enable-web-search=true "
             "force-asset-upload=true ! appsink name=sink"));
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  GstElement *src = run.by_name("src");
  gchar *task_id = nullptr;
  g_object_get(src, "task-id", &task_id, nullptr);
  gst_object_unref(src);
  ASSERT_NE(task_id, nullptr);
  JsonParser *parser = json_parser_new();
  JsonObject *request = logged_request(*server_, task_id, parser);
  g_free(task_id);
  ASSERT_NE(request, nullptr);
  EXPECT_STREQ(json_object_get_string_member(request, "model_name"),
               "doubao-seedance-2-0-fast-260128");
  EXPECT_STREQ(json_object_get_string_member(request, "prompt"), "every field");
  EXPECT_STREQ(json_object_get_string_member(request, "non_face_image_url"), "https://h/a.png");
  EXPECT_EQ(string_list(request, "non_face_image_urls"),
            (std::vector<std::string>{"https://h/b.png", "https://h/c.png"}));
  EXPECT_STREQ(json_object_get_string_member(request, "face_image_url"), "https://h/face.png");
  EXPECT_STREQ(json_object_get_string_member(request, "video_url"), "https://h/v.mp4");
  EXPECT_EQ(string_list(request, "video_urls"), std::vector<std::string>{"https://h/w.mp4"});
  EXPECT_STREQ(json_object_get_string_member(request, "audio_url"), "https://h/a.wav");
  EXPECT_EQ(string_list(request, "audio_urls"),
            (std::vector<std::string>{"https://h/b.wav", "https://h/c.wav"}));
  EXPECT_EQ(json_object_get_int_member(request, "duration"), 4);
  EXPECT_STREQ(json_object_get_string_member(request, "resolution"), "480p");
  EXPECT_STREQ(json_object_get_string_member(request, "aspect_ratio"), "1:1");
  EXPECT_TRUE(json_object_get_boolean_member(request, "watermark"));
  EXPECT_FALSE(json_object_get_boolean_member(request, "generate_audio"));
  EXPECT_TRUE(json_object_get_boolean_member(request, "enable_web_search"));
  EXPECT_TRUE(json_object_get_boolean_member(request, "force_asset_upload"));
  EXPECT_FALSE(json_object_get_boolean_member(request, "sync"));
  g_object_unref(parser);
  // The clip follows the request: square 480p.
  EXPECT_EQ(run.sink("sink").width, 480);
  EXPECT_EQ(run.sink("sink").height, 480);
}

// The `warnings` of the run's see2ai-result message.
std::vector<std::string> result_warnings(const see2ai::test::BusRecord &bus) {
  std::vector<std::string> list;
  for (auto *s : bus.element_messages) {
    if (!gst_structure_has_name(s, "see2ai-result")) continue;
    const GValue *warnings = gst_structure_get_value(s, "warnings");
    for (guint i = 0; warnings && i < gst_value_array_get_size(warnings); ++i)
      list.emplace_back(g_value_get_string(gst_value_array_get_value(warnings, i)));
  }
  return list;
}

TEST_F(ElementTest, LegalButPoorRequestWarnsOnceNamingTheProperty) {
  PipelineRun run(
      source("prompt=\"uploaded\" duration=4 resolution=480p generate-audio=false "
             "force-asset-upload=true ! appsink name=sink"));
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  EXPECT_NEAR(static_cast<double>(run.sink("sink").pts.size()), 4 * 24, 1);
  // The element's own advice; the dev server's `warnings` say the same and are not repeated.
  ASSERT_EQ(run.bus.warning_texts.size(), 1u);
  EXPECT_EQ(run.bus.warning_texts[0].rfind("force-asset-upload=true", 0), 0u)
      << run.bus.warning_texts[0];
  EXPECT_EQ(result_warnings(run.bus).size(), 1u) << "the service's warning is in see2ai-result";
}

TEST_F(ElementTest, UnknownKeyPostsOneErrorAndNoBuffer_n) {
  PipelineRun run("see2aivideosrc api-url=" + server_->url() +
                  " api-key=wrong-key cache-mode=off prompt=x duration=4 ! appsink name=sink");
  run.play_to_end();
  EXPECT_EQ(run.bus.errors, 1);
  EXPECT_EQ(run.bus.error_domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(run.bus.error_code, GST_RESOURCE_ERROR_NOT_AUTHORIZED);
  ASSERT_NE(run.bus.error_details, nullptr);
  guint status = 0;
  EXPECT_TRUE(gst_structure_get_uint(run.bus.error_details, "http-status-code", &status));
  EXPECT_EQ(status, 401u);
  EXPECT_TRUE(run.sink("sink").pts.empty());
  EXPECT_EQ(run.bus.error_text.find("wrong-key"), std::string::npos);
}

TEST_F(ElementTest, InvalidDurationFailsBeforeAnythingIsSubmitted_n) {
  int before = count_submits(*server_);
  PipelineRun run(source("prompt=x duration=3 ! appsink name=sink"));
  run.play_to_end(10);
  EXPECT_EQ(run.bus.errors, 1);
  EXPECT_EQ(run.bus.error_domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(run.bus.error_code, GST_RESOURCE_ERROR_SETTINGS);
  EXPECT_NE(run.bus.error_text.find("\"duration\""), std::string::npos) << run.bus.error_text;
  EXPECT_EQ(count_submits(*server_), before);
}

// Each rule the service would answer with a 400, broken through properties set the gst-launch
// way: one RESOURCE/SETTINGS error naming the property, details with no task, nothing submitted.
struct BrokenRule {
  const char *properties;
  const char *named;
};

class ElementValidationTest : public ElementTest,
                              public ::testing::WithParamInterface<BrokenRule> {};

TEST_P(ElementValidationTest, FailsNamingThePropertyBeforeAnythingIsSubmitted_n) {
  int before = count_submits(*server_);
  PipelineRun run(
      source(std::string("prompt=x duration=4 ") + GetParam().properties + " ! appsink name=sink"));
  run.play_to_end(10);
  EXPECT_EQ(run.bus.errors, 1);
  EXPECT_EQ(run.bus.error_domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(run.bus.error_code, GST_RESOURCE_ERROR_SETTINGS);
  // "video-urls", or "non-face-image-urls[1]" for one item of a list.
  EXPECT_EQ(run.bus.error_text.rfind(std::string("Invalid property \"") + GetParam().named, 0), 0u)
      << run.bus.error_text;
  ASSERT_NE(run.bus.error_details, nullptr);
  guint status = 1;
  EXPECT_TRUE(gst_structure_get_uint(run.bus.error_details, "http-status-code", &status));
  EXPECT_EQ(status, 0u);
  EXPECT_STREQ(gst_structure_get_string(run.bus.error_details, "task-id"), "");
  EXPECT_TRUE(run.sink("sink").pts.empty());
  EXPECT_EQ(count_submits(*server_), before);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, ElementValidationTest,
    ::testing::Values(
        BrokenRule{"video-url=http://h/0.mp4 "
                   "video-urls=\"<http://h/1.mp4, http://h/2.mp4, http://h/3.mp4>\"",
                   "video-urls"},
        BrokenRule{
            "audio-urls=\"<http://h/1.wav, http://h/2.wav, http://h/3.wav, http://h/4.wav>\"",
            "audio-urls"},
        BrokenRule{"first-frame-url=ftp://h/first.png", "first-frame-url"},
        BrokenRule{"non-face-image-urls=\"<https://h/a.png, file:///etc/passwd>\"",
                   "non-face-image-urls"}));

TEST_F(ElementTest, AFaceImageAlsoGivenAsNonFaceIsAWarningNamingTheProperty) {
  // The same picture as face image and in the non-face list (set as a gst-launch array): legal,
  // but it is advice worth a warning. The service says the same; it is posted once.
  PipelineRun run(
      source("prompt=\"two of me\" duration=4 resolution=480p generate-audio=false "
             "face-image-url=https://h/me.jpg "
             "non-face-image-urls=\"<https://h/room.jpg, https://h/me.jpg>\" "
             "! appsink name=sink"));
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  ASSERT_EQ(run.bus.warning_texts.size(), 1u);
  EXPECT_EQ(run.bus.warning_texts[0].rfind("non-face-image-urls=https://h/me.jpg: ", 0), 0u)
      << run.bus.warning_texts[0];
  // The service got both fields: its own advice (in see2ai-result) is the same.
  std::vector<std::string> advice = result_warnings(run.bus);
  ASSERT_EQ(advice.size(), 1u);
  EXPECT_EQ(advice[0].rfind("non_face_image_urls=https://h/me.jpg: ", 0), 0u) << advice[0];
}

TEST_F(ElementTest, DownstreamThatCannotTakeTheFormatIsOneStreamErrorWithDetails_n) {
  // gst-launch links the video pad only to caps it can meet: RGB never, so it stays unlinked.
  PipelineRun run(
      source("prompt=\"rgb only\" duration=4 resolution=480p generate-audio=false "
             "! video/x-raw,format=RGB ! appsink name=sink"));
  run.play_to_end();
  EXPECT_EQ(run.bus.errors, 1) << run.bus.error_text;
  EXPECT_EQ(run.bus.error_domain, GST_STREAM_ERROR);
  EXPECT_EQ(run.bus.error_code, GST_STREAM_ERROR_FAILED);
  ASSERT_NE(run.bus.error_details, nullptr);
  gint flow = GST_FLOW_OK;
  EXPECT_TRUE(gst_structure_get_int(run.bus.error_details, "flow-return", &flow));
  EXPECT_EQ(flow, GST_FLOW_NOT_LINKED);
  const char *task = gst_structure_get_string(run.bus.error_details, "task-id");
  EXPECT_TRUE(task && *task) << "the details name the task whose clip could not be played";
  EXPECT_TRUE(run.sink("sink").pts.empty());
}

TEST_F(ElementTest, NothingToGenerateFromIsRefused_n) {
  PipelineRun run(source("duration=4 ! appsink name=sink"));
  run.play_to_end(10);
  EXPECT_EQ(run.bus.errors, 1);
  EXPECT_EQ(run.bus.error_code, GST_RESOURCE_ERROR_SETTINGS);
}

TEST_F(ElementTest, MissingApiKeyIsRefused_n) {
  PipelineRun run("see2aivideosrc api-url=" + server_->url() +
                  " cache-mode=off prompt=x ! appsink name=sink");
  run.play_to_end(10);
  EXPECT_EQ(run.bus.errors, 1);
  EXPECT_EQ(run.bus.error_code, GST_RESOURCE_ERROR_NOT_AUTHORIZED);
  EXPECT_NE(run.bus.error_text.find("api-key"), std::string::npos);
}

TEST(ElementProgressive, FirstFrameLeavesBeforeTheDownloadEnds) {
  gst_init(nullptr, nullptr);
  DevServerProcess server;
  // About 40 kB/s: the 720p clip takes seconds to arrive.
  server.add_faults(R"([{"match":"download","times":-1,"rate":40000}])");
  PipelineRun run("see2aivideosrc api-url=" + server.url() + " api-key=" + kKey +
                  " cache-mode=off poll-interval=100 prompt=\"progressive\" duration=4 "
                  "generate-audio=false ! appsink name=sink");
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  ASSERT_TRUE(run.bus.eos);
  GstClockTime download_done = GST_CLOCK_TIME_NONE;
  for (size_t i = 0; i < run.bus.element_messages.size(); ++i)
    if (gst_structure_has_name(run.bus.element_messages[i], "see2ai-result"))
      download_done = run.bus.element_message_times[i];
  ASSERT_TRUE(GST_CLOCK_TIME_IS_VALID(download_done));
  const auto &sink = run.sink("sink");
  EXPECT_NEAR(static_cast<double>(sink.pts.size()), 4 * 24, 1);
  EXPECT_LT(sink.first_sample_at, download_done);
}

TEST_F(ElementTest, AccurateFlushingSeekStartsAtTheTarget) {
  PipelineRun run(
      source("prompt=\"a seek test\" duration=4 resolution=480p "
             "generate-audio=false ! appsink name=sink"));
  ASSERT_TRUE(run.preroll()) << run.bus.error_text;
  ASSERT_TRUE(gst_element_seek_simple(
      run.pipeline(), GST_FORMAT_TIME,
      static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE), 2 * GST_SECOND));
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  ASSERT_TRUE(run.bus.eos);
  const auto &sink = run.sink("sink");
  ASSERT_FALSE(sink.pts.empty());
  EXPECT_EQ(sink.pts.front(), 2 * GST_SECOND);
  EXPECT_NEAR(static_cast<double>(sink.pts.size()), 2 * 24, 1);
  gint64 duration = -1;
  EXPECT_TRUE(gst_element_query_duration(run.pipeline(), GST_FORMAT_TIME, &duration));
  EXPECT_NEAR(static_cast<double>(duration), 4e9, 1e9 / 24);
}

// Both pads to appsinks, prerolled, the whole clip on disk (see2ai-result comes once the download
// is complete): the pipeline the seek tests below start from.
// `video_filter`, if given, goes between the video pad and its appsink.
std::unique_ptr<PipelineRun> prerolled_av(const std::string &source_description,
                                          const std::string &video_filter = "") {
  auto run = std::make_unique<PipelineRun>(source_description + " name=s s.video ! " +
                                           (video_filter.empty() ? "" : video_filter + " ! ") +
                                           "appsink name=vsink "
                                           "s.audio ! appsink name=asink");
  EXPECT_TRUE(run->preroll()) << run->bus.error_text;
  EXPECT_TRUE(run->wait_for_element_message("see2ai-result")) << run->bus.error_text;
  return run;
}

TEST_F(ElementTest, KeyUnitSeekStartsBothStreamsAtTheKeyFrame) {
  auto run = prerolled_av(source("prompt=\"key unit\" duration=4 resolution=480p"));
  // Key frames every second: 2.52 s snaps back to 2 s.
  ASSERT_TRUE(gst_element_seek_simple(
      run->pipeline(), GST_FORMAT_TIME,
      static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT), 2520 * GST_MSECOND));
  run->play_to_end();
  ASSERT_EQ(run->bus.errors, 0) << run->bus.error_text;
  ASSERT_TRUE(run->bus.eos);
  const auto &video = run->sink("vsink");
  const auto &audio = run->sink("asink");
  ASSERT_FALSE(video.pts.empty());
  ASSERT_FALSE(audio.pts.empty());
  EXPECT_EQ(video.pts.front(), 2 * GST_SECOND);
  EXPECT_NEAR(static_cast<double>(audio.pts.front()), 2e9, 1e6);
  EXPECT_NEAR(static_cast<double>(video.pts.size()), 2 * 24, 1);
  gint64 position = -1;
  EXPECT_TRUE(gst_element_query_position(run->pipeline(), GST_FORMAT_TIME, &position));
  EXPECT_NEAR(static_cast<double>(position), 4e9, 0.1e9);
}

TEST_F(ElementTest, SeekFromTheAudioPadMovesBothStreams) {
  auto run = prerolled_av(source("prompt=\"audio seek\" duration=4 resolution=480p"));
  GstElement *asink = run->by_name("asink");
  ASSERT_NE(asink, nullptr);
  // Sent to one sink only: it travels upstream through the element's audio pad alone.
  EXPECT_TRUE(gst_element_send_event(
      asink,
      gst_event_new_seek(1.0, GST_FORMAT_TIME,
                         static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE),
                         GST_SEEK_TYPE_SET, 3 * GST_SECOND, GST_SEEK_TYPE_NONE, -1)));
  gst_object_unref(asink);
  run->play_to_end();
  ASSERT_EQ(run->bus.errors, 0) << run->bus.error_text;
  ASSERT_TRUE(run->bus.eos);
  ASSERT_FALSE(run->sink("vsink").pts.empty());
  ASSERT_FALSE(run->sink("asink").pts.empty());
  EXPECT_EQ(run->sink("vsink").pts.front(), 3 * GST_SECOND);
  EXPECT_NEAR(static_cast<double>(run->sink("asink").pts.front()), 3e9, 1e6);
  EXPECT_NEAR(static_cast<double>(run->sink("vsink").pts.size()), 24, 1);
}

TEST_F(ElementTest, ASeekMayCountFromTheEndAndABackwardRangeIsRefusedOnce) {
  auto run = prerolled_av(source("prompt=\"from the end\" duration=4 resolution=480p"));
  // The pipeline sends the seek up both sinks: one refusal, one warning.
  EXPECT_FALSE(gst_element_seek(run->pipeline(), 1.0, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH,
                                GST_SEEK_TYPE_SET, 3 * GST_SECOND, GST_SEEK_TYPE_SET,
                                1 * GST_SECOND));
  ASSERT_TRUE(gst_element_seek(
      run->pipeline(), 1.0, GST_FORMAT_TIME,
      static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE), GST_SEEK_TYPE_END,
      -1 * static_cast<gint64>(GST_SECOND), GST_SEEK_TYPE_NONE, -1));
  run->play_to_end();
  ASSERT_EQ(run->bus.errors, 0) << run->bus.error_text;
  ASSERT_EQ(run->bus.warnings, 1);
  EXPECT_NE(run->bus.warning_texts[0].find("stop is before its start"), std::string::npos)
      << run->bus.warning_texts[0];
  ASSERT_TRUE(run->bus.eos);
  const auto &video = run->sink("vsink");
  ASSERT_FALSE(video.pts.empty());
  EXPECT_EQ(video.pts.front(), 3 * GST_SECOND);
  EXPECT_EQ(video.pts.size(), 24u);
}

TEST_F(ElementTest, SegmentSeekPlaysTheRangeAndEndsWithSegmentDone) {
  auto run = prerolled_av(source("prompt=\"segment seek\" duration=4 resolution=480p"));
  ASSERT_TRUE(
      gst_element_seek(run->pipeline(), 1.0, GST_FORMAT_TIME,
                       static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE |
                                                 GST_SEEK_FLAG_SEGMENT),
                       GST_SEEK_TYPE_SET, 1 * GST_SECOND, GST_SEEK_TYPE_SET, 2 * GST_SECOND));
  run->play_to_end();
  ASSERT_EQ(run->bus.errors, 0) << run->bus.error_text;
  EXPECT_TRUE(run->bus.segment_done);
  EXPECT_FALSE(run->bus.eos);
  const auto &video = run->sink("vsink");
  ASSERT_FALSE(video.pts.empty());
  EXPECT_EQ(video.pts.front(), 1 * GST_SECOND);
  EXPECT_LT(video.pts.back(), 2 * GST_SECOND);
  EXPECT_NEAR(static_cast<double>(video.pts.size()), 24, 1);
}

TEST_F(ElementTest, SegmentDoneIsPostedOnceEveryPadHasPushedTheSegment) {
  // The video branch takes 20 ms a frame: the decoding reaches the stop while the video pad's
  // task still has the end of the segment queued. The SEGMENT_DONE message ends the run (as an
  // application waiting for it would go on): every buffer of the segment must be in by then.
  auto run = prerolled_av(source("prompt=\"segment done\" duration=4 resolution=480p"),
                          "identity sleep-time=20000");
  ASSERT_TRUE(
      gst_element_seek(run->pipeline(), 1.0, GST_FORMAT_TIME,
                       static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE |
                                                 GST_SEEK_FLAG_SEGMENT),
                       GST_SEEK_TYPE_SET, 1 * GST_SECOND, GST_SEEK_TYPE_SET, 2 * GST_SECOND));
  run->play_to_end();
  ASSERT_EQ(run->bus.errors, 0) << run->bus.error_text;
  ASSERT_TRUE(run->bus.segment_done);
  const auto &video = run->sink("vsink");
  const auto &audio = run->sink("asink");
  ASSERT_FALSE(video.pts.empty());
  ASSERT_FALSE(audio.pts.empty());
  EXPECT_EQ(video.pts.front(), 1 * GST_SECOND);
  EXPECT_EQ(video.pts.size(), 24u);
  EXPECT_GE(video.pts.back() + video.durations.back(), 2 * GST_SECOND);
  EXPECT_GE(audio.pts.back() + audio.durations.back(), 2 * GST_SECOND);
}

TEST_F(ElementTest, LoopRepeatsWithContinuousTimestamps) {
  PipelineRun run(
      source("prompt=\"a loop\" duration=4 resolution=480p loop=true name=s "
             "s.video ! appsink name=vsink s.audio ! appsink name=asink"));
  run.stop_after("vsink", 4 * 24 * 3 + 30);
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  const auto &video = run.sink("vsink");
  ASSERT_GE(video.pts.size(), 4u * 24 * 3 + 30);
  for (size_t i = 1; i < video.pts.size(); ++i)
    ASSERT_NEAR(static_cast<double>(video.pts[i]),
                static_cast<double>(video.pts[i - 1] + video.durations[i - 1]), 1000.0)
        << "video gap at buffer " << i;
  const auto &audio = run.sink("asink");
  ASSERT_GT(audio.pts.size(), 10u);
  for (size_t i = 1; i < audio.pts.size(); ++i)
    ASSERT_NEAR(static_cast<double>(audio.pts[i]),
                static_cast<double>(audio.pts[i - 1] + audio.durations[i - 1]), 1000.0)
        << "audio gap at buffer " << i;
  ASSERT_GT(audio.pts.back(), 12 * GST_SECOND);
  // Sound and picture stay in step: each play's sound starts with its first picture.
  for (size_t play = 1; play <= 3; ++play) {
    const GstClockTime start = video.pts[4 * 24 * play];
    EXPECT_NEAR(static_cast<double>(start), static_cast<double>(play * 4 * GST_SECOND), 1000.0);
    EXPECT_TRUE(
        std::any_of(audio.pts.begin(), audio.pts.end(),
                    [&](GstClockTime pts) { return pts + 1000 >= start && pts <= start + 1000; }))
        << "no sound starts with play " << play + 1 << " at " << start;
  }
}

TEST_F(ElementTest, AnEosEventEndsALoopingClipAfterWhatIsQueued) {
  PipelineRun run(
      source("prompt=\"endless\" duration=4 resolution=480p loop=true "
             "generate-audio=false ! appsink name=sink"));
  run.stop_after("sink", 12);
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  ASSERT_FALSE(run.bus.eos);
  EXPECT_TRUE(gst_element_send_event(run.pipeline(), gst_event_new_eos()));
  run.play_to_end(30);
  EXPECT_EQ(run.bus.errors, 0) << run.bus.error_text;
  EXPECT_TRUE(run.bus.eos);
  EXPECT_FALSE(run.bus.timed_out);
}

TEST_F(ElementTest, LiveOutputIsPacedByTheClock) {
  PipelineRun run(
      source("prompt=\"paced\" duration=4 resolution=480p is-live=true "
             "generate-audio=false ! appsink name=sink"));
  run.stop_after("sink", 37);
  run.play_to_end(30);
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  const auto &sink = run.sink("sink");
  ASSERT_GE(sink.pts.size(), 37u);
  // Each buffer leaves at its running time on the pipeline clock (the system clock, on the same
  // monotonic time base as the arrival stamps), not as soon as it is decoded: the last one cannot
  // arrive before base time + its timestamp. A first buffer delivered late on a loaded machine
  // only makes it later, unlike a span measured from the first arrival.
  const GstClockTime base = gst_element_get_base_time(run.pipeline());
  EXPECT_GE(sink.last_sample_at, base + sink.pts.back());
  EXPECT_GE(sink.pts.back() - sink.pts.front(), 1400 * GST_MSECOND);
  EXPECT_LT(sink.pts.size(), 60u);
}

TEST_F(ElementTest, APadWhoseDownstreamSaidEosGetsNothingMore) {
  PipelineRun run(
      source("prompt=\"half\" duration=4 resolution=480p name=s "
             "s.video ! identity eos-after=24 ! appsink name=vsink "
             "s.audio ! appsink name=asink"));
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  EXPECT_TRUE(run.bus.eos);
  EXPECT_LT(run.sink("vsink").pts.size(), 24u);
  const auto &audio = run.sink("asink");
  ASSERT_FALSE(audio.pts.empty());
  EXPECT_GT(audio.pts.back(), 3 * GST_SECOND);
}

// A task submitted by someone else (sync=false), as a program that only attaches would find it.
std::string submit_elsewhere(DevServerProcess &server, const std::string &prompt) {
  std::string body;
  if (server.post_json("/api/v1/actions/see2ai_video_generation_v1",
                       R"({"prompt":")" + prompt +
                           R"(","duration":4,"resolution":"480p","generate_audio":false,)"
                           R"("sync":false})",
                       kKey, &body) != 200) {
    ADD_FAILURE() << body;
    return {};
  }
  JsonParser *parser = json_parser_new();
  std::string task_id;
  if (json_parser_load_from_data(parser, body.c_str(), -1, nullptr))
    task_id = json_object_get_string_member(json_node_get_object(json_parser_get_root(parser)),
                                            "task_id");
  g_object_unref(parser);
  return task_id;
}

TEST_F(ElementTest, AttachingByTaskIdMakesNoSubmit) {
  std::string task_id = submit_elsewhere(*server_, "attached");
  ASSERT_FALSE(task_id.empty());
  int before = count_submits(*server_);
  PipelineRun run(source("task-id=" + task_id + " ! appsink name=sink"));
  run.play_to_end();
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  EXPECT_NEAR(static_cast<double>(run.sink("sink").pts.size()), 4 * 24, 1);
  EXPECT_EQ(count_submits(*server_), before);
}

TEST_F(ElementTest, SecondRunOfTheSameRequestComesFromTheCacheWithNoRequest) {
  std::string cache = see2ai::test::make_temp_dir("cache");
  std::string pipeline = "see2aivideosrc api-url=" + server_->url() + " api-key=" + kKey +
                         " cache-dir=" + cache +
                         " prompt=\"cached fox\" duration=4 resolution=480p generate-audio=false"
                         " ! appsink name=sink";
  {
    PipelineRun first(pipeline);
    first.play_to_end();
    ASSERT_EQ(first.bus.errors, 0) << first.bus.error_text;
  }
  size_t requests = server_->request_log().size();
  PipelineRun second(pipeline);
  second.play_to_end();
  ASSERT_EQ(second.bus.errors, 0) << second.bus.error_text;
  EXPECT_NEAR(static_cast<double>(second.sink("sink").pts.size()), 4 * 24, 1);
  EXPECT_EQ(server_->request_log().size(), requests);
  gboolean result_from_cache = FALSE, task_from_cache = FALSE;
  for (auto *s : second.bus.element_messages) {
    if (gst_structure_has_name(s, "see2ai-result"))
      gst_structure_get_boolean(s, "from-cache", &result_from_cache);
    if (gst_structure_has_name(s, "see2ai-task"))
      gst_structure_get_boolean(s, "from-cache", &task_from_cache);
  }
  EXPECT_TRUE(result_from_cache);
  EXPECT_TRUE(task_from_cache);
}

TEST_F(ElementTest, UriSetsPropertiesAndRoundTrips) {
  GError *error = nullptr;
  GstElement *element = gst_element_make_from_uri(
      GST_URI_SRC,
      "see2ai://generate?prompt=a%20red%20fox&duration=6&resolution=480p&aspect-ratio=9:16"
      "&video-urls=http://a.example/1.mp4&video-urls=http://a.example/2.mp4&model=fast",
      nullptr, &error);
  ASSERT_NE(element, nullptr) << (error ? error->message : "");
  gchar *prompt = nullptr;
  gint duration = 0;
  g_object_get(element, "prompt", &prompt, "duration", &duration, nullptr);
  EXPECT_STREQ(prompt, "a red fox");
  EXPECT_EQ(duration, 6);
  g_free(prompt);
  GValue urls = G_VALUE_INIT;
  g_value_init(&urls, GST_TYPE_ARRAY);
  g_object_get_property(G_OBJECT(element), "video-urls", &urls);
  ASSERT_EQ(gst_value_array_get_size(&urls), 2u);
  EXPECT_STREQ(g_value_get_string(gst_value_array_get_value(&urls, 1)), "http://a.example/2.mp4");
  g_value_unset(&urls);
  gchar *uri = gst_uri_handler_get_uri(GST_URI_HANDLER(element));
  std::string text = uri;
  g_free(uri);
  for (const char *part : {"prompt=a%20red%20fox", "duration=6", "resolution=480p", "model=fast",
                           "video-urls=http%3A%2F%2Fa.example%2F2.mp4"})
    EXPECT_NE(text.find(part), std::string::npos) << part << " in " << text;
  GstElement *copy = gst_element_make_from_uri(GST_URI_SRC, text.c_str(), nullptr, nullptr);
  ASSERT_NE(copy, nullptr);
  gchar *copy_uri = gst_uri_handler_get_uri(GST_URI_HANDLER(copy));
  EXPECT_EQ(text, copy_uri);
  g_free(copy_uri);
  gst_object_unref(copy);

  // Only what differs from a new element: no cache-dir or api-url this machine fills in.
  GstElement *plain =
      gst_element_make_from_uri(GST_URI_SRC, "see2ai://generate?prompt=fox", nullptr, nullptr);
  ASSERT_NE(plain, nullptr);
  gchar *plain_uri = gst_uri_handler_get_uri(GST_URI_HANDLER(plain));
  EXPECT_STREQ(plain_uri, "see2ai://generate?prompt=fox");
  g_free(plain_uri);
  g_object_set(plain, "api-url", "http://127.0.0.1:9", nullptr);
  plain_uri = gst_uri_handler_get_uri(GST_URI_HANDLER(plain));
  EXPECT_STREQ(plain_uri, "see2ai://generate?api-url=http%3A%2F%2F127.0.0.1%3A9&prompt=fox");
  g_free(plain_uri);
  // The built-in default set on purpose where the environment names another service: kept, or
  // the URI would come back pointing at the environment's service.
  g_setenv("SEE2AI_API_URL", "http://127.0.0.1:9", TRUE);
  g_object_set(plain, "api-url", "https://see2ai.com", nullptr);
  plain_uri = gst_uri_handler_get_uri(GST_URI_HANDLER(plain));
  g_setenv("SEE2AI_API_URL", "", TRUE);
  EXPECT_STREQ(plain_uri, "see2ai://generate?api-url=https%3A%2F%2Fsee2ai.com&prompt=fox");
  g_free(plain_uri);
  gst_object_unref(plain);

  EXPECT_TRUE(gst_uri_handler_set_uri(GST_URI_HANDLER(element), "see2ai://task/task-42", nullptr));
  gchar *task_id = nullptr;
  g_object_get(element, "task-id", &task_id, nullptr);
  EXPECT_STREQ(task_id, "task-42");
  g_free(task_id);
  gst_object_unref(element);
}

TEST_F(ElementTest, UriRefusesTheApiKeyAndUnknownProperties_n) {
  GstElement *element = gst_element_factory_make("see2aivideosrc", nullptr);
  ASSERT_NE(element, nullptr);
  GError *error = nullptr;
  EXPECT_FALSE(gst_uri_handler_set_uri(GST_URI_HANDLER(element),
                                       "see2ai://generate?prompt=x&api-key=secret", &error));
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error->message).find("API key"), std::string::npos);
  g_clear_error(&error);
  EXPECT_FALSE(
      gst_uri_handler_set_uri(GST_URI_HANDLER(element), "see2ai://generate?colour=blue", &error));
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error->message).find("colour"), std::string::npos);
  g_clear_error(&error);
  EXPECT_FALSE(
      gst_uri_handler_set_uri(GST_URI_HANDLER(element), "see2ai://generate?duration=soon", &error));
  g_clear_error(&error);
  gst_object_unref(element);
}

// Counts the buffers reaching the sink playbin has in this property.
void count_buffers(GstElement *playbin, const char *sink_property, std::atomic<int> *count) {
  GstElement *sink = nullptr;
  g_object_get(playbin, sink_property, &sink, nullptr);
  ASSERT_NE(sink, nullptr);
  GstPad *pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad *, GstPadProbeInfo *, gpointer counter) {
        ++*static_cast<std::atomic<int> *>(counter);
        return GST_PAD_PROBE_OK;
      },
      count, nullptr);
  gst_object_unref(pad);
  gst_object_unref(sink);
}

TEST_F(ElementTest, PlaybinPlaysASee2aiUri) {
  g_setenv("SEE2AI_API_URL", server_->url().c_str(), TRUE);
  g_setenv("SEE2AI_API_KEY", kKey, TRUE);
  PipelineRun run(
      "playbin uri=\"see2ai://generate?prompt=playbin%20fox&duration=4&resolution=480p"
      "&cache-mode=off\" video-sink=\"fakesink sync=false\" audio-sink=\"fakesink sync=false\"");
  // Picture and sound: count what reaches each of playbin's sinks.
  std::atomic<int> frames[2] = {0, 0};
  count_buffers(run.pipeline(), "video-sink", &frames[0]);
  count_buffers(run.pipeline(), "audio-sink", &frames[1]);
  run.play_to_end();
  g_unsetenv("SEE2AI_API_URL");
  g_unsetenv("SEE2AI_API_KEY");
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  EXPECT_TRUE(run.bus.eos);
  EXPECT_NEAR(frames[0].load(), 4 * 24, 1);
  EXPECT_GT(frames[1].load(), 4 * 40);  // 4 s of AAC frames (~47 per second at 48 kHz)
}

TEST_F(ElementTest, PlaybinAttachesToATaskUriAndGivesItBack) {
  std::string task_id = submit_elsewhere(*server_, "attached through playbin");
  ASSERT_FALSE(task_id.empty());
  int before = count_submits(*server_);
  g_setenv("SEE2AI_API_URL", server_->url().c_str(), TRUE);
  g_setenv("SEE2AI_API_KEY", kKey, TRUE);
  PipelineRun run("playbin uri=see2ai://task/" + task_id +
                  " video-sink=\"fakesink sync=false\" audio-sink=fakesink");
  std::atomic<int> frames{0};
  count_buffers(run.pipeline(), "video-sink", &frames);
  run.play_to_end();
  g_unsetenv("SEE2AI_API_URL");
  g_unsetenv("SEE2AI_API_KEY");
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  EXPECT_TRUE(run.bus.eos);
  EXPECT_NEAR(frames.load(), 4 * 24, 1);
  EXPECT_EQ(count_submits(*server_), before);
  GstElement *source = nullptr;
  g_object_get(run.pipeline(), "source", &source, nullptr);
  ASSERT_NE(source, nullptr);
  gchar *uri = gst_uri_handler_get_uri(GST_URI_HANDLER(source));
  EXPECT_EQ(std::string(uri ? uri : ""), "see2ai://task/" + task_id);
  g_free(uri);
  gst_object_unref(source);
}

TEST(ElementLive, FeedsALiveCompositorAcrossLoopsWithContinuousTimestamps) {
  gst_init(nullptr, nullptr);
  DevServerProcess server;
  // start-time-selection=first, as in the audiomixer test below: a live compositor whose first
  // input comes after its first deadline (videotestsrc late under ASan and load) outputs from 0,
  // then takes that input as its start and moves back to 0 (seen: frame 21 at 0 after 833 ms).
  PipelineRun run(
      "compositor name=mix start-time-selection=first ! "
      "video/x-raw,width=320,height=180,framerate=24/1 ! "
      "appsink name=sink_mix "
      "videotestsrc is-live=true ! video/x-raw,width=320,height=180,framerate=24/1 ! mix. "
      "see2aivideosrc api-url=" +
      server.url() + " api-key=" + kKey +
      " cache-mode=off poll-interval=100 is-live=true loop=true prompt=\"a live plate\" "
      "duration=4 resolution=480p generate-audio=false ! tee name=t "
      "t. ! queue ! videoscale ! video/x-raw,width=160,height=90 ! mix. "
      "t. ! queue ! appsink name=sink_src");
  // Two and a half plays of the 4 s clip, paced by the live mixer.
  run.stop_after("sink_src", 4 * 24 * 2 + 12);
  run.play_to_end(60);
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  ASSERT_FALSE(run.bus.timed_out);
  const auto &src = run.sink("sink_src");
  const auto &mix = run.sink("sink_mix");
  ASSERT_GE(src.pts.size(), 4u * 24 * 2 + 12);
  for (size_t i = 1; i < src.pts.size(); ++i)
    ASSERT_NEAR(static_cast<double>(src.pts[i]),
                static_cast<double>(src.pts[i - 1] + src.durations[i - 1]), 1000.0)
        << "gap at buffer " << i;
  // The mixer kept running while the clip was generated: it output frames before the first one
  // of the clip, and its timeline was never stalled. When an input misses its deadline
  // (videotestsrc slowed down by valgrind on a loaded machine), a live compositor skips that output
  // frame by design, so a few lone holes are its own; a source that held the mixer up would leave a
  // long one, or many.
  ASSERT_FALSE(mix.pts.empty());
  EXPECT_LT(mix.pts.front(), src.pts.front());
  const GstClockTime frame = GST_SECOND / 24;
  for (size_t i = 1; i < mix.pts.size(); ++i) {
    ASSERT_GE(mix.pts[i], mix.pts[i - 1]) << i;
    ASSERT_LE(mix.pts[i] - mix.pts[i - 1], 3 * frame + GST_MSECOND) << "hole at " << i;
  }
  const size_t spanned = (mix.pts.back() - mix.pts.front() + frame / 2) / frame + 1;
  EXPECT_GE(mix.pts.size() * 100, spanned * 95) << mix.pts.size() << " of " << spanned << " frames";
  gboolean live = FALSE;
  GstClockTime min_latency = 0, max_latency = 0;
  GstElement *source = nullptr;
  GstIterator *it = gst_bin_iterate_sources(GST_BIN(run.pipeline()));
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    GstElement *element = GST_ELEMENT(g_value_get_object(&item));
    if (g_str_has_prefix(GST_OBJECT_NAME(element), "see2aivideosrc")) source = element;
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  ASSERT_NE(source, nullptr);
  GstPad *pad = gst_element_get_static_pad(source, "video");
  ASSERT_NE(pad, nullptr);
  GstQuery *query = gst_query_new_latency();
  EXPECT_TRUE(gst_pad_query(pad, query));
  gst_query_parse_latency(query, &live, &min_latency, &max_latency);
  EXPECT_TRUE(live);
  gst_query_unref(query);
  gst_object_unref(pad);
}

TEST(ElementLive, FeedsALiveAudiomixerAcrossLoopsWithoutAGapInTheSound) {
  gst_init(nullptr, nullptr);
  DevServerProcess server;
  // start-time-selection=first: with the default (zero), a live audiomixer whose first input
  // buffer comes after its first deadline (audiotestsrc late on a loaded machine) outputs silence
  // from 0, then takes that buffer as its start and moves back to 0, so its next buffer overlaps
  // the first. Waiting for the first buffer gives the mixer one timeline from its start, which the
  // checks below hold to the nanosecond.
  PipelineRun run(
      "audiomixer name=amix start-time-selection=first ! audio/x-raw,rate=48000,channels=1 ! "
      "appsink name=sink_mix "
      "audiotestsrc is-live=true wave=silence ! audio/x-raw,rate=48000,channels=1 ! amix. "
      "see2aivideosrc name=s api-url=" +
      server.url() + " api-key=" + kKey +
      " cache-mode=off poll-interval=100 is-live=true loop=true prompt=\"a live sound bed\" "
      "duration=4 resolution=480p "
      "s.video ! queue ! fakesink "
      "s.audio ! tee name=t "
      "t. ! queue ! audioconvert ! audioresample ! amix. "
      "t. ! queue ! appsink name=sink_src");
  // A live source does not preroll.
  EXPECT_EQ(gst_element_set_state(run.pipeline(), GST_STATE_PAUSED), GST_STATE_CHANGE_NO_PREROLL);
  // Past the first loop's end: 4 s of sound and a quarter more, paced by the clock.
  const size_t past_the_loop = 5 * 48000 / 1024;
  run.stop_after("sink_src", past_the_loop);
  run.play_to_end(60);
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  ASSERT_FALSE(run.bus.timed_out);
  const auto &src = run.sink("sink_src");
  ASSERT_GE(src.pts.size(), past_the_loop);
  EXPECT_GT(src.pts.back() - src.pts.front(), 4 * GST_SECOND);
  // Every sound buffer starts where the one before ended, across the loop too.
  for (size_t i = 1; i < src.pts.size(); ++i)
    ASSERT_NEAR(static_cast<double>(src.pts[i]),
                static_cast<double>(src.pts[i - 1] + src.durations[i - 1]), 1000.0)
        << "gap at buffer " << i;
  // The mixer ran on through generation and the loop: its output has no hole.
  const auto &mix = run.sink("sink_mix");
  ASSERT_FALSE(mix.pts.empty());
  EXPECT_LT(mix.pts.front(), src.pts.front());
  for (size_t i = 1; i < mix.pts.size(); ++i)
    ASSERT_EQ(mix.pts[i], mix.pts[i - 1] + mix.durations[i - 1]) << "hole at mixer buffer " << i;
}

// Reads an integer or string member of one request-log line.
std::string log_member(const std::string &line, const char *name) {
  JsonParser *parser = json_parser_new();
  std::string value;
  if (json_parser_load_from_data(parser, line.c_str(), -1, nullptr)) {
    JsonObject *object = json_node_get_object(json_parser_get_root(parser));
    if (object && json_object_has_member(object, name)) {
      JsonNode *node = json_object_get_member(object, name);
      if (JSON_NODE_HOLDS_VALUE(node))
        value = json_node_get_value_type(node) == G_TYPE_STRING
                    ? json_node_get_string(node)
                    : std::to_string(json_node_get_int(node));
    }
  }
  g_object_unref(parser);
  return value;
}

TEST(ElementLoad, EightSourcesInOneCompositorPipelineGenerateInParallel) {
  gst_init(nullptr, nullptr);
  DevServerArgs args;
  // Long enough that eight elements starting under valgrind on a loaded machine (seen: 4.5 s from
  // the first submit to the last) all submit before the first task ends.
  args.latency_ms = 8000;
  DevServerProcess server(args);
  // The compositor example's shape with eight tiles (4x2) and their sound through audiomixer.
  std::string description =
      "compositor name=grid ! video/x-raw,width=1280,height=360 ! appsink name=sink_grid "
      "audiomixer name=mix ! appsink name=sink_mix ";
  for (int i = 0; i < 8; ++i) {
    const std::string n = std::to_string(i);
    description += "see2aivideosrc name=s" + n + " api-url=" + server.url() + " api-key=" + kKey +
                   " cache-mode=off poll-interval=100 duration=4 resolution=480p prompt=\"tile " +
                   n + "\" s" + n +
                   ".video ! videoscale ! video/x-raw,width=320,height=180 ! grid.sink_" + n +
                   " s" + n + ".audio ! audioconvert ! mix.sink_" + n + " ";
  }
  PipelineRun run(description);
  for (int i = 0; i < 8; ++i) {
    GstElement *grid = run.by_name("grid");
    GstPad *pad = gst_element_get_static_pad(grid, ("sink_" + std::to_string(i)).c_str());
    ASSERT_NE(pad, nullptr);
    g_object_set(pad, "xpos", (i % 4) * 320, "ypos", (i / 4) * 180, nullptr);
    gst_object_unref(pad);
    gst_object_unref(grid);
  }
  run.play_to_end(120);
  ASSERT_EQ(run.bus.errors, 0) << run.bus.error_text;
  ASSERT_TRUE(run.bus.eos);
  int results = 0;
  for (auto *s : run.bus.element_messages) results += gst_structure_has_name(s, "see2ai-result");
  EXPECT_EQ(results, 8);
  const auto &grid = run.sink("sink_grid");
  EXPECT_EQ(grid.width, 1280);
  EXPECT_NEAR(static_cast<double>(grid.pts.size()), 4 * 24, 2);
  const auto &mix = run.sink("sink_mix");
  ASSERT_FALSE(mix.pts.empty());
  EXPECT_NEAR(static_cast<double>(mix.pts.back() + mix.durations.back()), 4e9, 0.1e9);
  // Overlap: every submit reached the server before the first task finished.
  long last_submit = -1, first_success = -1;
  int submits = 0;
  for (const auto &line : server.request_log()) {
    long t = std::atol(log_member(line, "t_ms").c_str());
    if (log_member(line, "method") == "POST" &&
        log_member(line, "path").find("/api/v1/actions/") == 0) {
      ++submits;
      last_submit = std::max(last_submit, t);
    }
    if (log_member(line, "event") == "state" && log_member(line, "state") == "succeeded" &&
        first_success < 0)
      first_success = t;
  }
  EXPECT_EQ(submits, 8);
  ASSERT_GE(first_success, 0);
  EXPECT_LT(last_submit, first_success);
}

TEST(ElementLifetime, NullWhileGeneratingReturnsWithinASecond) {
  gst_init(nullptr, nullptr);
  DevServerArgs args;
  args.latency_ms = 60000;
  DevServerProcess slow(args);
  GError *error = nullptr;
  GstElement *pipeline =
      gst_parse_launch(("see2aivideosrc api-url=" + slow.url() + " api-key=" + kKey +
                        " cache-mode=off poll-interval=100 prompt=slow duration=4 ! fakesink")
                           .c_str(),
                       &error);
  ASSERT_EQ(error, nullptr);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus(pipeline);
  // Wait until the task is known to be in progress on the server.
  bool in_progress = false;
  while (!in_progress) {
    GstMessage *msg = gst_bus_timed_pop_filtered(
        bus, 20 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR));
    ASSERT_NE(msg, nullptr);
    ASSERT_NE(GST_MESSAGE_TYPE(msg), GST_MESSAGE_ERROR);
    const GstStructure *s = gst_message_get_structure(msg);
    in_progress = s && gst_structure_has_name(s, "see2ai-task");
    gst_message_unref(msg);
  }
  // The pipeline's bus drops what is queued when it reaches NULL: watch the messages as posted.
  struct Seen {
    std::mutex lock;
    int errors = 0;
    std::vector<GstProgressType> progress;
  } seen;
  gst_bus_set_sync_handler(
      bus,
      [](GstBus *, GstMessage *msg, gpointer data) {
        auto *seen = static_cast<Seen *>(data);
        std::lock_guard<std::mutex> guard(seen->lock);
        if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) ++seen->errors;
        if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_PROGRESS) {
          GstProgressType type;
          gst_message_parse_progress(msg, &type, nullptr, nullptr);
          seen->progress.push_back(type);
        }
        return GST_BUS_PASS;
      },
      &seen, nullptr);
  gint64 start = g_get_monotonic_time();
  EXPECT_EQ(gst_element_set_state(pipeline, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  EXPECT_LT(g_get_monotonic_time() - start, G_USEC_PER_SEC);
  gst_bus_set_sync_handler(bus, nullptr, nullptr, nullptr);
  // Stopping is not a failure: no error, and the progress ends in CANCELED.
  EXPECT_EQ(seen.errors, 0);
  ASSERT_FALSE(seen.progress.empty());
  EXPECT_EQ(seen.progress.back(), GST_PROGRESS_TYPE_CANCELED);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
}

}  // namespace
