// Shots: storyboards and live channels of generated clips, through real pipelines against the
// dev server. The server's request log witnesses every POST paid; appsinks and pad probes see
// what leaves the element (timestamps, caps, the table of contents).
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "devserver_process.h"
#include "launch_process.h"
#include "pipeline_run.h"
#include "server_log.h"

using see2ai::test::DevServerArgs;
using see2ai::test::DevServerProcess;
using see2ai::test::LogEntry;
using see2ai::test::PipelineRun;

namespace {

constexpr const char *kKey = "test-key-0123456789";
constexpr size_t kFramesOf4s = 4 * 24;
constexpr GstClockTime kFourSeconds = 4 * GST_SECOND;
// Timestamps come from the container's time base: neighbours may differ by a rounding nanosecond.
constexpr GstClockTime kRounding = 1000;

std::string write_storyboard(const std::string &name, const std::string &json) {
  const std::string path = see2ai::test::make_temp_dir("storyboard") + "/" + name;
  std::ofstream(path) << json;
  return path;
}

bool near(GstClockTime a, GstClockTime b) {
  return (a > b ? a - b : b - a) <= kRounding;
}

// Each buffer starts where the one before it ended.
::testing::AssertionResult continuous(const see2ai::test::SinkRecord &sink) {
  for (size_t i = 1; i < sink.pts.size(); ++i) {
    if (!near(sink.pts[i], sink.pts[i - 1] + sink.durations[i - 1]))
      return ::testing::AssertionFailure()
             << "buffer " << i << " at " << sink.pts[i] << " after one ending at "
             << sink.pts[i - 1] + sink.durations[i - 1];
  }
  return ::testing::AssertionSuccess();
}

GstClockTime end_of(const see2ai::test::SinkRecord &sink) {
  return sink.pts.empty() ? 0 : sink.pts.back() + sink.durations.back();
}

std::vector<const GstStructure *> shot_messages(const PipelineRun &run) {
  std::vector<const GstStructure *> shots;
  for (const GstStructure *s : run.bus.element_messages)
    if (gst_structure_has_name(s, "see2ai-shot")) shots.push_back(s);
  return shots;
}

guint shot_index(const GstStructure *s) {
  guint index = 0;
  gst_structure_get_uint(s, "index", &index);
  return index;
}

GstClockTime shot_stream_time(const GstStructure *s) {
  guint64 time = 0;
  gst_structure_get_uint64(s, "stream-time", &time);
  return time;
}

// The pipeline's duration once the element knows it (every shot on disk), or -1 at the deadline.
gint64 duration_once_known(PipelineRun &run) {
  gint64 duration = -1;
  run.wait_for(
      [&] {
        return gst_element_query_duration(run.pipeline(), GST_FORMAT_TIME, &duration) &&
               duration > 0;
      },
      120);
  return duration;
}

// Shot `index` went on air at `stream_time`.
bool announced(const PipelineRun &run, guint index, GstClockTime stream_time) {
  for (const GstStructure *s : shot_messages(run))
    if (shot_index(s) == index && near(shot_stream_time(s), stream_time)) return true;
  return false;
}

// A storyboard of three whose middle shot failed and was skipped: the run ended cleanly with one
// warning naming shot 1, and shot 2 went on air after shot 0.
::testing::AssertionResult ended_skipping_shot_1(const PipelineRun &run) {
  if (!run.bus.eos || run.bus.errors != 0)
    return ::testing::AssertionFailure() << "no clean end: " << run.bus.error_text;
  if (run.bus.warnings != 1 || run.bus.warning_texts[0].find("Shot 1 skipped") == std::string::npos)
    return ::testing::AssertionFailure()
           << run.bus.warnings << " warnings, the first: "
           << (run.bus.warning_texts.empty() ? "" : run.bus.warning_texts[0]);
  std::vector<const GstStructure *> shots = shot_messages(run);
  if (shots.size() < 2 || shot_index(shots.front()) != 0 || shot_index(shots.back()) != 2)
    return ::testing::AssertionFailure() << "shots 0 then 2 did not go on air";
  return ::testing::AssertionSuccess();
}

class ShotsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
  std::string source(const std::string &extra) const {
    return "see2aivideosrc name=src api-url=" + server_.url() + " api-key=" + kKey +
           " cache-mode=off poll-interval=100 " + extra;
  }
  DevServerProcess server_;
};

TEST_F(ShotsTest, ShotsOfDifferentSizesAndOneWithoutSoundPlayAsOneGaplessStream) {
  const std::string board = write_storyboard("four.json", R"([
    {"prompt": "shot zero, wide", "resolution": "480p", "aspect_ratio": "16:9"},
    {"prompt": "shot one, square", "resolution": "480p", "aspect_ratio": "1:1"},
    {"prompt": "shot two, silent", "aspect_ratio": "9:16", "generate_audio": false,
     "play": {"title": "Silence"}},
    {"prompt": "shot three, four by three", "aspect_ratio": "4:3"}])");
  PipelineRun run(source("duration=4 resolution=480p max-parallel=2 shots=" + board) +
                  " src.video ! appsink name=sink_video sync=false"
                  " src.audio ! appsink name=sink_audio sync=false");
  see2ai::test::SinkEvents video_events;
  GstElement *video_sink = run.by_name("sink_video");
  video_events.attach(video_sink);
  gst_object_unref(video_sink);
  run.play_to_end(180);
  ASSERT_TRUE(run.bus.eos) << run.bus.error_text;
  EXPECT_EQ(run.bus.errors, 0);
  EXPECT_EQ(see2ai::test::count_submits(server_), 4u);

  const auto &video = run.sink("sink_video");
  const auto &audio = run.sink("sink_audio");
  EXPECT_EQ(video.pts.size(), 4 * kFramesOf4s) << "every frame of every shot, once";
  EXPECT_TRUE(continuous(video));
  EXPECT_TRUE(continuous(audio)) << "the silent shot's sound is silence, in place";
  EXPECT_TRUE(near(end_of(video), 4 * kFourSeconds)) << end_of(video);
  EXPECT_TRUE(near(end_of(audio), end_of(video))) << end_of(audio) << " vs " << end_of(video);

  {
    std::lock_guard<std::mutex> guard(video_events.lock);
    ASSERT_EQ(video_events.sizes.size(), 4u) << "new caps for each shot's size";
    for (size_t i = 1; i < video_events.sizes.size(); ++i)
      EXPECT_NE(video_events.sizes[i], video_events.sizes[i - 1]) << i;
    ASSERT_NE(video_events.toc, nullptr);
    EXPECT_EQ(g_list_length(gst_toc_get_entries(video_events.toc)), 1u) << "one edition";
    const auto chapters = see2ai::test::chapters_of(video_events.toc);
    ASSERT_EQ(chapters.size(), 4u);
    const char *titles[] = {"shot zero, wide", "shot one, square", "Silence",
                            "shot three, four by three"};
    for (size_t i = 0; i < chapters.size(); ++i) {
      EXPECT_EQ(chapters[i].title, titles[i]);
      EXPECT_TRUE(near(static_cast<GstClockTime>(chapters[i].start), i * kFourSeconds))
          << i << ": " << chapters[i].start;
      EXPECT_TRUE(near(static_cast<GstClockTime>(chapters[i].stop), (i + 1) * kFourSeconds)) << i;
    }
  }

  std::vector<const GstStructure *> shots = shot_messages(run);
  ASSERT_EQ(shots.size(), 4u);
  for (guint i = 0; i < 4; ++i) {
    EXPECT_EQ(shot_index(shots[i]), i);
    EXPECT_TRUE(near(shot_stream_time(shots[i]), i * kFourSeconds)) << i;
    EXPECT_STRNE(gst_structure_get_string(shots[i], "task-id"), "") << i;
  }
}

TEST_F(ShotsTest, AFailedMiddleShotIsAWarningAndTheOthersPlay) {
  server_.add_faults(R"([{"match":"submit","prompt":"the middle fails","task_outcome":"failed"}])");
  const std::string board = write_storyboard(
      "failing.json",
      R"([{"prompt": "before"}, {"prompt": "the middle fails"}, {"prompt": "after"}])");
  PipelineRun run(source("duration=4 resolution=480p generate-audio=false shot-failure=skip "
                         "shots=" +
                         board) +
                  " ! appsink name=sink sync=false");
  run.play_to_end(120);
  ASSERT_TRUE(ended_skipping_shot_1(run));
  const auto &sink = run.sink("sink");
  EXPECT_EQ(sink.pts.size(), 2 * kFramesOf4s);
  EXPECT_TRUE(continuous(sink));
  std::vector<const GstStructure *> shots = shot_messages(run);
  ASSERT_EQ(shots.size(), 2u);
  EXPECT_TRUE(near(shot_stream_time(shots[1]), kFourSeconds));
}

TEST_F(ShotsTest, AShotWhoseDownloadBreaksIsAWarningAndTheOthersPlay) {
  // One shot at a time, so the second download is shot 1's: it arrives slowly and stops at 10000
  // bytes, with no retry allowed.
  server_.add_faults(
      R"([{"match":"download","skip":1,"rate":20000,"cut_at":10000,"no_length":true}])");
  const std::string board = write_storyboard(
      "broken.json",
      R"([{"prompt": "whole"}, {"prompt": "cut short"}, {"prompt": "whole again"}])");
  PipelineRun run(source("duration=4 resolution=480p generate-audio=false shot-failure=skip "
                         "max-parallel=1 retries=0 shots=" +
                         board) +
                  " ! appsink name=sink sync=false");
  run.play_to_end(120);
  ASSERT_TRUE(ended_skipping_shot_1(run));
  // Whatever of shot 1 was decoded before its download broke stays in the stream; shot 2 follows
  // it without a gap, whole.
  const auto &sink = run.sink("sink");
  EXPECT_GE(sink.pts.size(), 2 * kFramesOf4s);
  EXPECT_LT(sink.pts.size(), 3 * kFramesOf4s);
  EXPECT_TRUE(continuous(sink));
  std::vector<const GstStructure *> shots = shot_messages(run);
  EXPECT_TRUE(near(end_of(sink) - shot_stream_time(shots.back()), kFourSeconds));
  EXPECT_EQ(see2ai::test::count_submits(server_), 3u) << "a broken download is never paid again";
}

TEST_F(ShotsTest, AFailedShotOfAFileIsAnErrorNamingTheShotByDefault) {
  server_.add_faults(R"([{"match":"submit","prompt":"this one fails","task_outcome":"failed"}])");
  const std::string board =
      write_storyboard("failing.json", R"([{"prompt": "first"}, {"prompt": "this one fails"}])");
  PipelineRun run(source("duration=4 resolution=480p generate-audio=false shots=" + board) +
                  " ! appsink name=sink sync=false");
  run.play_to_end(120);
  ASSERT_EQ(run.bus.errors, 1);
  ASSERT_NE(run.bus.error_details, nullptr);
  guint shot = 99;
  EXPECT_TRUE(gst_structure_get_uint(run.bus.error_details, "shot", &shot));
  EXPECT_EQ(shot, 1u);
  EXPECT_STRNE(gst_structure_get_string(run.bus.error_details, "task-id"), "");
  // The shot before it went on air; the error stops the pipeline wherever its frames are.
  std::vector<const GstStructure *> shots = shot_messages(run);
  ASSERT_EQ(shots.size(), 1u);
  EXPECT_EQ(shot_index(shots[0]), 0u);
  EXPECT_GT(run.sink("sink").pts.size(), 0u);
}

TEST_F(ShotsTest, AContinuityShotCarriesThePreviousClipAsAReferenceVideo) {
  const std::string board = write_storyboard("continued.json",
                                             R"([{"prompt": "the first take"},
          {"prompt": "the take that follows", "play": {"continue": true}}])");
  PipelineRun run(
      source("duration=4 resolution=480p generate-audio=false max-parallel=2 shots=" + board) +
      " ! appsink name=sink sync=false");
  run.play_to_end(120);
  ASSERT_TRUE(run.bus.eos) << run.bus.error_text;
  std::vector<const GstStructure *> shots = shot_messages(run);
  ASSERT_EQ(shots.size(), 2u);
  const std::string first_clip =
      "/files/" + std::string(gst_structure_get_string(shots[0], "task-id")) + ".mp4";
  std::string second_submit;
  for (const auto &line : server_.request_log())
    if (line.find("\"event\":\"submit\"") != std::string::npos &&
        line.find("the take that follows") != std::string::npos)
      second_submit = line;
  ASSERT_FALSE(second_submit.empty());
  const size_t videos = second_submit.find("\"video_urls\"");
  ASSERT_NE(videos, std::string::npos) << second_submit;
  EXPECT_NE(second_submit.find(first_clip, videos), std::string::npos)
      << "the previous shot's clip is a reference video: " << second_submit;
  EXPECT_EQ(run.sink("sink").pts.size(), 2 * kFramesOf4s);
}

TEST_F(ShotsTest, ASeekLandsInTheShotThatHoldsItsTargetOnceTheShotsAreOnDisk) {
  const std::string board = write_storyboard(
      "seek.json", R"([{"prompt": "seek one"}, {"prompt": "seek two", "aspect_ratio": "1:1"},
                       {"prompt": "seek three"}])");
  PipelineRun run(source("duration=4 resolution=480p max-parallel=3 shots=" + board) +
                  " src.video ! appsink name=sink sync=false"
                  " src.audio ! appsink name=sink_audio sync=false");
  ASSERT_TRUE(run.preroll(120)) << run.bus.error_text;
  // The whole length is known once every shot is on disk.
  const gint64 duration = duration_once_known(run);
  ASSERT_GT(duration, 0);
  EXPECT_TRUE(near(static_cast<GstClockTime>(duration), 3 * kFourSeconds)) << duration;
  ASSERT_TRUE(gst_element_seek_simple(
      run.pipeline(), GST_FORMAT_TIME,
      static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE), 6 * GST_SECOND));
  run.play_to_end(120);
  ASSERT_TRUE(run.bus.eos) << run.bus.error_text;
  const auto &video = run.sink("sink");
  ASSERT_FALSE(video.pts.empty());
  EXPECT_TRUE(near(video.pts.front(), 6 * GST_SECOND)) << video.pts.front();
  EXPECT_EQ(video.pts.size(), 6 * 24u) << "the rest of shot 1, then shot 2";
  EXPECT_TRUE(continuous(video));
  EXPECT_TRUE(near(end_of(video), 3 * kFourSeconds));
  EXPECT_TRUE(near(end_of(run.sink("sink_audio")), 3 * kFourSeconds));
  EXPECT_TRUE(announced(run, 1, 6 * GST_SECOND)) << "the shot the seek landed in is announced";
}

TEST_F(ShotsTest, ASeekFromTheEndLandsInTheLastShotOnceTheLengthIsKnown) {
  const std::string board =
      write_storyboard("seek-end.json", R"([{"prompt": "end one"}, {"prompt": "end two"}])");
  PipelineRun run(source("duration=4 resolution=480p max-parallel=2 shots=" + board) +
                  " src.video ! appsink name=sink sync=false"
                  " src.audio ! appsink name=sink_audio sync=false");
  ASSERT_TRUE(run.preroll(120)) << run.bus.error_text;
  ASSERT_GT(duration_once_known(run), 0);
  // The last 2 s of the storyboard: the second half of its second shot.
  ASSERT_TRUE(gst_element_seek(
      run.pipeline(), 1.0, GST_FORMAT_TIME,
      static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE), GST_SEEK_TYPE_END,
      -2 * static_cast<gint64>(GST_SECOND), GST_SEEK_TYPE_NONE, -1));
  run.play_to_end(120);
  ASSERT_TRUE(run.bus.eos) << run.bus.error_text;
  const auto &video = run.sink("sink");
  ASSERT_FALSE(video.pts.empty());
  EXPECT_TRUE(near(video.pts.front(), 6 * GST_SECOND)) << video.pts.front();
  EXPECT_EQ(video.pts.size(), 2 * 24u);
  EXPECT_TRUE(continuous(video));
  EXPECT_TRUE(near(end_of(video), 2 * kFourSeconds));
  EXPECT_TRUE(announced(run, 1, 6 * GST_SECOND)) << "the shot the seek landed in is announced";
}

TEST_F(ShotsTest, ABrokenShotIsRefusedBeforeAnythingIsSubmitted) {
  const std::string board = write_storyboard(
      "broken.json", R"([{"prompt": "fine"}, {"prompt": "too long", "duration": 99}])");
  PipelineRun run(source("shots=" + board) + " ! fakesink");
  run.play_to_end(30);
  ASSERT_EQ(run.bus.errors, 1);
  EXPECT_EQ(run.bus.error_domain, GST_RESOURCE_ERROR);
  EXPECT_EQ(run.bus.error_code, GST_RESOURCE_ERROR_SETTINGS);
  EXPECT_NE(run.bus.error_text.find("shot 1, field \"duration\""), std::string::npos)
      << run.bus.error_text;
  EXPECT_NE(run.bus.error_text.find(board), std::string::npos) << run.bus.error_text;
  EXPECT_EQ(see2ai::test::count_submits(server_), 0u);
}

TEST(ShotsKilledRun, AKilledStoryboardResumesEveryShotWithoutASecondPost) {
  gst_init(nullptr, nullptr);
  DevServerArgs args;
  args.latency_ms = 6000;  // every shot is still generating when the run dies
  DevServerProcess server(args);
  const std::string cache = see2ai::test::make_temp_dir("killed-shots-cache");
  const std::string board = write_storyboard(
      "three.json", R"([{"prompt": "one"}, {"prompt": "two"}, {"prompt": "three"}])");
  std::vector<std::string> properties = {
      "api-url=" + server.url(), "cache-dir=" + cache, "cache-mode=reuse",
      "poll-interval=100",       "duration=4",         "resolution=480p",
      "generate-audio=false",    "max-parallel=3",     "shots=" + board};
  GPid pid = see2ai::test::spawn_gst_launch(properties, kKey);
  ASSERT_GT(pid, 0);
  // Killed once all three submits were answered and each task was polled (their journals hold
  // the task ids).
  const bool submitted = see2ai::test::wait_for_log(
      server,
      [](const std::vector<LogEntry> &log) {
        size_t answered = 0, polls = 0;
        for (const auto &e : log) {
          answered += e.is_submit() && e.status == 200;
          polls += e.is_status();
        }
        return answered == 3 && polls >= 3;
      },
      30);
  kill(pid, SIGKILL);
  int wait_status = 0;
  waitpid(pid, &wait_status, 0);
  g_spawn_close_pid(pid);
  ASSERT_TRUE(submitted) << "the first run never submitted its three shots";
  ASSERT_TRUE(WIFSIGNALED(wait_status));
  auto done = see2ai::test::only(see2ai::test::read_log(server), [](const LogEntry &e) {
    return e.event == "state" && e.state == "succeeded";
  });
  ASSERT_TRUE(done.empty()) << "a task finished before the kill: nothing was tested";

  std::string description = "see2aivideosrc api-key=" + std::string(kKey);
  for (const auto &p : properties) description += " " + p;
  PipelineRun second(description + " ! appsink name=sink sync=false");
  second.play_to_end(120);
  ASSERT_TRUE(second.bus.eos) << second.bus.error_text;
  EXPECT_EQ(second.sink("sink").pts.size(), 3 * kFramesOf4s);
  EXPECT_EQ(see2ai::test::count_submits(server), 3u) << "every shot resumed, none paid twice";
}

// A live channel: one shot loops; a shot appended in PLAYING is generated and goes on air.
class LiveChannelTest : public ShotsTest {
 protected:
  // Appends a shot with these fields to the running element; its answer.
  bool append(PipelineRun &run, GstStructure *fields) {
    GstElement *src = run.by_name("src");
    gboolean accepted = FALSE;
    g_signal_emit_by_name(src, "append-shot", fields, &accepted);
    gst_structure_free(fields);
    gst_object_unref(src);
    return accepted;
  }
  static const GstStructure *on_air(const PipelineRun &run, guint index) {
    for (const GstStructure *s : shot_messages(run))
      if (shot_index(s) == index) return s;
    return nullptr;
  }
};

TEST_F(LiveChannelTest, AnAppendedShotGoesOnAirAtTheEndOfTheCurrentLoop) {
  PipelineRun run(source("is-live=true loop=true duration=4 resolution=480p generate-audio=false "
                         "prompt=the-plate") +
                  " ! appsink name=sink sync=false");
  gst_element_set_state(run.pipeline(), GST_STATE_PLAYING);
  ASSERT_TRUE(run.wait_for([&] { return on_air(run, 0) != nullptr; }, 60)) << run.bus.error_text;
  EXPECT_FALSE(append(run, gst_structure_new("shot", "duration", G_TYPE_INT, 99, nullptr)))
      << "a broken shot is refused";
  ASSERT_TRUE(run.bus.warnings == 1 || run.wait_for([&] { return run.bus.warnings == 1; }, 10));
  EXPECT_NE(run.bus.warning_texts[0].find("Shot 1 refused: field \"duration\""), std::string::npos)
      << run.bus.warning_texts[0];
  ASSERT_TRUE(append(run, gst_structure_new("shot", "prompt", G_TYPE_STRING, "the-news", "title",
                                            G_TYPE_STRING, "News", nullptr)));
  ASSERT_TRUE(run.wait_for([&] { return on_air(run, 1) != nullptr; }, 90)) << run.bus.error_text;
  const GstClockTime switched = shot_stream_time(on_air(run, 1));
  EXPECT_STREQ(gst_structure_get_string(on_air(run, 1), "title"), "News");
  EXPECT_GE(switched, kFourSeconds - kRounding);
  EXPECT_TRUE(near(switched % kFourSeconds, 0) || near(switched % kFourSeconds, kFourSeconds))
      << "the switch waits for the end of a play: " << switched;
  // A few frames of the new shot, still continuous.
  const size_t frames = run.sink("sink").pts.size();
  ASSERT_TRUE(run.wait_for([&] { return run.sink("sink").pts.size() >= frames + 12; }, 30));
  gst_element_set_state(run.pipeline(), GST_STATE_NULL);
  EXPECT_EQ(run.bus.errors, 0);
  EXPECT_TRUE(continuous(run.sink("sink")));
  EXPECT_EQ(see2ai::test::count_submits(server_), 2u);
}

TEST_F(LiveChannelTest, AnImmediateSwitchDoesNotWaitForTheEndOfThePlay) {
  PipelineRun run(source("is-live=true loop=true shot-switch=immediate duration=15 "
                         "resolution=480p generate-audio=false prompt=a-long-plate") +
                  " ! appsink name=sink sync=false");
  gst_element_set_state(run.pipeline(), GST_STATE_PLAYING);
  ASSERT_TRUE(run.wait_for([&] { return on_air(run, 0) != nullptr; }, 60)) << run.bus.error_text;
  ASSERT_TRUE(append(run, gst_structure_new("shot", "prompt", G_TYPE_STRING, "breaking", "duration",
                                            G_TYPE_INT, 4, nullptr)));
  ASSERT_TRUE(run.wait_for([&] { return on_air(run, 1) != nullptr; }, 90)) << run.bus.error_text;
  const GstClockTime switched = shot_stream_time(on_air(run, 1));
  EXPECT_LT(switched, 15 * GST_SECOND) << "it went on air before the 15 s plate ended";
  const size_t frames = run.sink("sink").pts.size();
  ASSERT_TRUE(run.wait_for([&] { return run.sink("sink").pts.size() >= frames + 12; }, 30));
  gst_element_set_state(run.pipeline(), GST_STATE_NULL);
  EXPECT_EQ(run.bus.errors, 0);
  EXPECT_TRUE(continuous(run.sink("sink")));
}

}  // namespace
