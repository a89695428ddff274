// The examples in examples/ run headless against the real dev server as a user would run them
// (subprocesses with SEE2AI_API_URL/SEE2AI_API_KEY set) and leave the files and lines they promise.
#include <dlfcn.h>
#include <gio/gio.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "clip_renderer.h"
#include "devserver_process.h"
#include "pipeline_run.h"
#include "server_log.h"

using see2ai::test::DevServerArgs;
using see2ai::test::DevServerProcess;
using see2ai::test::LogEntry;
using see2ai::test::make_temp_dir;
using see2ai::test::PipelineRun;
using see2ai::test::read_log;

namespace {

constexpr const char *kKey = "test-key-0123456789";  // DevServerArgs' default tenant
constexpr int kHangGuardSeconds = 60;                // each example takes seconds

// The test binary lives in <build>/tests; examples/meson.build builds the application and copies
// the scripts into <build>/examples.
std::string examples_build_dir() {
  gchar *exe = g_file_read_link("/proc/self/exe", nullptr);
  gchar *tests_dir = g_path_get_dirname(exe);
  gchar *build_dir = g_path_get_dirname(tests_dir);
  std::string dir = std::string(build_dir) + "/examples";
  g_free(build_dir);
  g_free(tests_dir);
  g_free(exe);
  return dir;
}

struct ExampleRun {
  bool hung = false;         // killed by the hang guard
  bool interrupted = false;  // sent SIGINT once interrupt_when held
  double seconds = 0;        // from start to exit
  bool exited = false;
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string bytes_text(GBytes *bytes) {
  if (!bytes) return "";
  gsize size = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &size));
  return std::string(data ? data : "", size);
}

struct RunState {
  GMainLoop *loop;
  ExampleRun *run;
};

// Runs an example in its own process group (so the hang guard also stops the gst-launch-1.0 it
// starts) with the dev server's URL and a key in its environment, and a cache of its own.
// `interrupt_when`, if given, is checked every 100 ms while the example runs; once it holds, the
// group gets SIGINT, as a terminal's Ctrl-C would send it.
using Environment = std::vector<std::pair<std::string, std::string>>;

ExampleRun run_example(const std::vector<std::string> &argv, const std::string &api_url,
                       const std::string &key = kKey, const Environment &extra_env = {},
                       int hang_guard_s = kHangGuardSeconds,
                       const std::function<bool()> &interrupt_when = {}) {
  GSubprocessLauncher *launcher = g_subprocess_launcher_new(static_cast<GSubprocessFlags>(
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE));
  g_subprocess_launcher_setenv(launcher, "SEE2AI_API_URL", api_url.c_str(), TRUE);
  g_subprocess_launcher_setenv(launcher, "SEE2AI_API_KEY", key.c_str(), TRUE);
  g_subprocess_launcher_setenv(launcher, "XDG_CACHE_HOME", make_temp_dir("example-cache").c_str(),
                               TRUE);
  for (const auto &[name, value] : extra_env)
    g_subprocess_launcher_setenv(launcher, name.c_str(), value.c_str(), TRUE);
  // In the sanitizer build the runtime is preloaded into every child; bash, python3 and
  // gst-launch-1.0 are not ours and their exit-time leaks are not findings (the element's own
  // leaks are checked in-process by the element tests). A later option overrides an earlier one.
  const char *asan_options = g_getenv("ASAN_OPTIONS");
  if (asan_options && *asan_options)
    g_subprocess_launcher_setenv(launcher, "ASAN_OPTIONS",
                                 (std::string(asan_options) + ":detect_leaks=0").c_str(), TRUE);
  // The runtime finds the real __cxa_throw only in libraries loaded before it starts; the C
  // programs load libstdc++ later, with the plugin, and the plugin's first exception would stop
  // the runtime with a CHECK failure.
  const char *preload = g_getenv("LD_PRELOAD");
  Dl_info libstdcxx;
  if (preload && std::string(preload).find("libasan") != std::string::npos &&
      std::string(preload).find("libstdc++") == std::string::npos &&
      dladdr(reinterpret_cast<void *>(&std::terminate), &libstdcxx) && libstdcxx.dli_fname)
    g_subprocess_launcher_setenv(launcher, "LD_PRELOAD",
                                 (std::string(preload) + " " + libstdcxx.dli_fname).c_str(), TRUE);
  g_subprocess_launcher_set_child_setup(
      launcher, [](gpointer) { setpgid(0, 0); }, nullptr, nullptr);
  std::vector<const gchar *> cargv;
  for (const auto &arg : argv) cargv.push_back(arg.c_str());
  cargv.push_back(nullptr);
  GError *error = nullptr;
  const gint64 started_us = g_get_monotonic_time();
  GSubprocess *process = g_subprocess_launcher_spawnv(launcher, cargv.data(), &error);
  g_object_unref(launcher);
  ExampleRun run;
  if (!process) {
    run.err = error->message;
    g_error_free(error);
    return run;
  }
  // The identifier is gone once the child has been reaped: read it at once.
  const gchar *identifier = g_subprocess_get_identifier(process);
  const pid_t group = identifier ? static_cast<pid_t>(std::atoi(identifier)) : 0;

  GMainContext *context = g_main_context_new();
  g_main_context_push_thread_default(context);
  GMainLoop *loop = g_main_loop_new(context, FALSE);
  RunState state{loop, &run};
  g_subprocess_communicate_async(
      process, nullptr, nullptr,
      [](GObject *source, GAsyncResult *result, gpointer data) {
        auto *state = static_cast<RunState *>(data);
        GBytes *out = nullptr, *err = nullptr;
        GError *error = nullptr;
        if (g_subprocess_communicate_finish(G_SUBPROCESS(source), result, &out, &err, &error)) {
          state->run->out = bytes_text(out);
          state->run->err = bytes_text(err);
        } else {
          state->run->err = error->message;
          g_error_free(error);
        }
        if (out) g_bytes_unref(out);
        if (err) g_bytes_unref(err);
        g_main_loop_quit(state->loop);
      },
      &state);
  GSource *guard = g_timeout_source_new_seconds(static_cast<guint>(hang_guard_s));
  struct GuardData {
    pid_t group;
    ExampleRun *run;
  } guard_data{group, &run};
  g_source_set_callback(
      guard,
      [](gpointer data) {
        auto *guard_data = static_cast<GuardData *>(data);
        guard_data->run->hung = true;
        if (guard_data->group > 0) kill(-guard_data->group, SIGKILL);
        return G_SOURCE_REMOVE;
      },
      &guard_data, nullptr);
  g_source_attach(guard, context);
  struct InterruptData {
    pid_t group;
    ExampleRun *run;
    const std::function<bool()> *when;
  } interrupt_data{group, &run, &interrupt_when};
  GSource *interrupter = nullptr;
  if (interrupt_when) {
    interrupter = g_timeout_source_new(100);
    g_source_set_callback(
        interrupter,
        [](gpointer data) -> gboolean {
          auto *interrupt_data = static_cast<InterruptData *>(data);
          if (!(*interrupt_data->when)()) return G_SOURCE_CONTINUE;
          interrupt_data->run->interrupted = true;
          if (interrupt_data->group > 0) kill(-interrupt_data->group, SIGINT);
          return G_SOURCE_REMOVE;
        },
        &interrupt_data, nullptr);
    g_source_attach(interrupter, context);
  }
  g_main_loop_run(loop);
  run.seconds = static_cast<double>(g_get_monotonic_time() - started_us) / G_USEC_PER_SEC;
  if (interrupter) {
    g_source_destroy(interrupter);
    g_source_unref(interrupter);
  }
  g_source_destroy(guard);
  g_source_unref(guard);
  // Whatever the example left behind in its group goes too.
  if (group > 0) kill(-group, SIGKILL);
  g_main_loop_unref(loop);
  g_main_context_pop_thread_default(context);
  g_main_context_unref(context);

  run.exited = g_subprocess_get_if_exited(process);
  if (run.exited) run.exit_code = g_subprocess_get_exit_status(process);
  g_object_unref(process);
  return run;
}

// A readable failure: the example's own output.
std::string transcript(const ExampleRun &run) {
  return "stdout:\n" + run.out + "\nstderr:\n" + run.err;
}

void expect_clean_exit(const ExampleRun &run) {
  EXPECT_FALSE(run.hung) << transcript(run);
  EXPECT_TRUE(run.exited && run.exit_code == 0) << transcript(run);
  EXPECT_EQ(run.out.find(kKey), std::string::npos) << "the API key was printed";
  EXPECT_EQ(run.err.find(kKey), std::string::npos) << "the API key was printed";
}

std::vector<LogEntry> submits(const std::vector<LogEntry> &log) {
  return see2ai::test::only(log, [](const LogEntry &entry) { return entry.is_submit(); });
}

std::vector<uint8_t> read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// Mean colour of the central quarter of the picture.
void centre_colour(const see2ai::dev::RgbImage &image, double rgb[3]) {
  double sum[3] = {0, 0, 0};
  int count = 0;
  for (int y = image.height / 4; y < image.height * 3 / 4; ++y)
    for (int x = image.width / 4; x < image.width * 3 / 4; ++x, ++count)
      for (int c = 0; c < 3; ++c)
        sum[c] += image.rgb[static_cast<size_t>(y) * static_cast<size_t>(image.width) * 3 +
                            static_cast<size_t>(x) * 3 + static_cast<size_t>(c)];
  for (int c = 0; c < 3; ++c) rgb[c] = count ? sum[c] / count : -1;
}

// The Matroska files the examples write: H.264 video and Opus audio, decoded to the end.
std::unique_ptr<PipelineRun> decode_matroska(const std::string &path) {
  auto run = std::make_unique<PipelineRun>(
      "filesrc location=\"" + path +
      "\" ! matroskademux name=d "
      "d.video_0 ! queue ! h264parse ! avdec_h264 ! appsink name=sink_video "
      "d.audio_0 ! queue ! opusparse ! opusdec ! appsink name=sink_audio");
  run->play_to_end(60);
  return run;
}

double last_end_s(const see2ai::test::SinkRecord &sink) {
  if (sink.pts.empty()) return 0;
  return static_cast<double>(sink.pts.back() + sink.durations.back()) / GST_SECOND;
}

class ExamplesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
  void SetUp() override { out_ = make_temp_dir("example-out"); }
  std::string script(const char *name) const { return examples_build_dir() + "/" + name; }
  std::string out_;
};

TEST_F(ExamplesTest, DemoCommandLeavesAPlayableClipAndAFrame) {
  // README's first command, on this build (its build step finds nothing to do) with its own output
  // directory; it starts and stops a dev server of its own.
  const char *source_root = g_getenv("SEE2AI_SOURCE_ROOT");
  const char *build_root = g_getenv("SEE2AI_BUILD_ROOT");
  ASSERT_TRUE(source_root && build_root);
  ExampleRun run =
      run_example({"bash", std::string(source_root) + "/scripts/demo.sh",
                   "a red fox running through snow", "4"},
                  "", kKey, {{"SEE2AI_BUILD_DIR", build_root}, {"SEE2AI_DEMO_OUT", out_}});
  expect_clean_exit(run);
  EXPECT_NE(run.out.find("Clip:  " + out_ + "/clip.mp4"), std::string::npos) << transcript(run);
  std::vector<uint8_t> png = read_file(out_ + "/frame.png");
  ASSERT_GT(png.size(), 8u);
  EXPECT_EQ(std::string(png.begin() + 1, png.begin() + 4), "PNG");
  // Playable: GStreamer's own demuxer finds 4 s of pictures and sound in it.
  PipelineRun clip("filesrc location=" + out_ +
                   "/clip.mp4 ! qtdemux name=d d.video_0 ! queue ! h264parse ! avdec_h264 ! "
                   "appsink name=sink_video d.audio_0 ! queue ! aacparse ! avdec_aac ! "
                   "appsink name=sink_audio");
  clip.play_to_end(60);
  EXPECT_TRUE(clip.bus.eos) << clip.bus.error_text;
  EXPECT_NEAR(static_cast<double>(clip.sink("sink_video").pts.size()), 4 * 24, 2);
  EXPECT_NEAR(last_end_s(clip.sink("sink_audio")), 4.0, 0.1);
}

TEST_F(ExamplesTest, PlayWithAudioWritesAClipWithPictureAndSound) {
  DevServerProcess server;
  ExampleRun run = run_example({"bash", script("play-with-audio.sh"), out_}, server.url());
  expect_clean_exit(run);
  EXPECT_NE(run.out.find("Wrote " + out_ + "/clip.mkv"), std::string::npos) << run.out;

  auto clip = decode_matroska(out_ + "/clip.mkv");
  EXPECT_TRUE(clip->bus.eos) << clip->bus.error_text;
  const auto &video = clip->sink("sink_video");
  const auto &audio = clip->sink("sink_audio");
  EXPECT_EQ(video.height, 480);
  EXPECT_GT(video.width, video.height);  // 16:9
  EXPECT_EQ(video.pts.size(), 96u);      // 4 s at 24 fps
  EXPECT_GT(audio.bytes, 0u);
  EXPECT_NEAR(last_end_s(audio), 4.0, 0.1);
  EXPECT_EQ(submits(read_log(server)).size(), 1u);
}

TEST_F(ExamplesTest, GstPlayPlaysASee2aiUriWithPictureAndSound) {
  DevServerProcess server;
  // As the README shows it, with fake sinks that say what they receive (-v prints it).
  ExampleRun run = run_example(
      {"gst-play-1.0", "-v", "--no-interactive", "--videosink=fakesink silent=false name=vsink",
       "--audiosink=fakesink silent=false name=asink",
       "see2ai://generate?prompt=gst-play%20fox&duration=4&resolution=480p"},
      server.url());
  expect_clean_exit(run);
  EXPECT_NE(run.out.find("Reached end of play list."), std::string::npos) << transcript(run);
  EXPECT_NE(run.out.find("(vsink:sink)"), std::string::npos) << "no picture";
  EXPECT_NE(run.out.find("(asink:sink)"), std::string::npos) << "no sound";
  // The last picture of the 4 s clip at 24 fps was shown.
  EXPECT_NE(run.out.find("pts: 0:00:03.958333333"), std::string::npos) << transcript(run);
  EXPECT_EQ(submits(read_log(server)).size(), 1u);
}

TEST_F(ExamplesTest, PlayWithAudioDisplayModePlaysPictureAndSoundToTheEnd) {
  DevServerProcess server;
  // No display here: the "display" sinks autovideosink and autoaudiosink pick the fake sinks,
  // which still play in real time against the clock.
  ExampleRun run =
      run_example({"bash", script("play-with-audio.sh"), out_, "display"}, server.url(), kKey,
                  {{"GST_PLUGIN_FEATURE_RANK", "fakevideosink:MAX,fakeaudiosink:MAX"}});
  expect_clean_exit(run);
  EXPECT_NE(run.out.find("Got EOS from element \"pipeline0\""), std::string::npos)
      << transcript(run);
  EXPECT_EQ(run.out.find("Wrote "), std::string::npos) << run.out;
  EXPECT_EQ(submits(read_log(server)).size(), 1u);
}

TEST_F(ExamplesTest, ImageToVideoStartsOnTheFirstImageAndEndsOnTheLast) {
  DevServerProcess server;
  // The dev server serves its output directory under /files/, which makes the two pictures
  // public URLs the service can fetch.
  write_file(server.output_dir() + "/first.png",
             see2ai::dev::encode_png(see2ai::dev::solid_image(640, 480, 220, 30, 30)));
  write_file(server.output_dir() + "/last.png",
             see2ai::dev::encode_png(see2ai::dev::solid_image(640, 480, 30, 40, 210)));
  ExampleRun run =
      run_example({"bash", script("image-to-video.sh"), out_, server.url() + "/files/first.png",
                   server.url() + "/files/last.png"},
                  server.url());
  expect_clean_exit(run);
  EXPECT_NE(run.out.find("Frames: 96"), std::string::npos) << run.out;

  const auto first = see2ai::dev::decode_image(read_file(out_ + "/first-frame.png"));
  const auto last = see2ai::dev::decode_image(read_file(out_ + "/last-frame.png"));
  // aspect-ratio=adaptive follows the 4:3 first picture.
  EXPECT_EQ(first.width, 640);
  EXPECT_EQ(first.height, 480);
  double rgb[3];
  centre_colour(first, rgb);
  EXPECT_NEAR(rgb[0], 220, 25);
  EXPECT_NEAR(rgb[1], 30, 25);
  EXPECT_NEAR(rgb[2], 30, 25);
  centre_colour(last, rgb);
  EXPECT_NEAR(rgb[0], 30, 25);
  EXPECT_NEAR(rgb[1], 40, 25);
  EXPECT_NEAR(rgb[2], 210, 25);
}

TEST_F(ExamplesTest, CompositorGridGeneratesFourClipsAtOnce) {
  // A latency long enough that four requests submitted one after another could not overlap.
  DevServerArgs args;
  args.latency_ms = 1500;
  DevServerProcess server(args);
  ExampleRun run = run_example({"bash", script("compositor-grid.sh"), out_}, server.url());
  expect_clean_exit(run);

  auto grid = decode_matroska(out_ + "/grid.mkv");
  EXPECT_TRUE(grid->bus.eos) << grid->bus.error_text;
  EXPECT_EQ(grid->sink("sink_video").width, 640);  // two 320x180 tiles side by side
  EXPECT_EQ(grid->sink("sink_video").height, 360);
  EXPECT_NEAR(last_end_s(grid->sink("sink_video")), 4.0, 0.1);
  EXPECT_GT(grid->sink("sink_audio").bytes, 0u);

  const auto log = read_log(server);
  const auto posts = submits(log);
  ASSERT_EQ(posts.size(), 4u);
  // Every task was queued before the first one finished: the four ran at the same time.
  gint64 last_queued = -1, first_succeeded = G_MAXINT64;
  int succeeded = 0;
  for (const auto &entry : log) {
    if (entry.event != "state") continue;
    if (entry.state == "queued") last_queued = std::max(last_queued, entry.t_ms);
    if (entry.state == "succeeded") {
      first_succeeded = std::min(first_succeeded, entry.t_ms);
      ++succeeded;
    }
  }
  EXPECT_EQ(succeeded, 4);
  EXPECT_LT(last_queued, first_succeeded);
}

// An HLS playlist as hlssink2 writes it: "#EXTINF:<seconds>," then the segment's file name on
// the next line, "#EXT-X-ENDLIST" once the stream has ended.
struct HlsPlaylist {
  std::string text;
  std::vector<std::string> segments;
  double total_s = 0;
  bool ended = false;
};

HlsPlaylist read_playlist(const std::string &path) {
  HlsPlaylist playlist;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    playlist.text += line + "\n";
    if (line == "#EXT-X-ENDLIST") playlist.ended = true;
    if (line.rfind("#EXTINF:", 0) != 0) continue;
    std::string segment;
    if (!std::getline(in, segment)) break;  // still being written
    playlist.text += segment + "\n";
    playlist.total_s += std::strtod(line.c_str() + 8, nullptr);
    playlist.segments.push_back(segment);
  }
  return playlist;
}

constexpr double kBroadcastClipSeconds = 4;  // duration=4 in broadcast-loop.sh

TEST_F(ExamplesTest, BroadcastLoopWritesHlsSegmentsPastTheEndOfTheClip) {
  DevServerProcess server;
  const std::string playlist_path = out_ + "/hls/playlist.m3u8";
  // Run until Ctrl-C, and press it once the playlist lists more than the clip: the loop is what
  // is waited for. A wall-clock bound would also count the start of gst-launch-1.0 and the
  // generation, which take seconds in the sanitizer build on a busy machine and left less than
  // the clip's length of stream.
  double listed_at_interrupt_s = 0;
  ExampleRun run = run_example({"bash", script("broadcast-loop.sh"), out_}, server.url(), kKey, {},
                               kHangGuardSeconds, [&] {
                                 listed_at_interrupt_s = read_playlist(playlist_path).total_s;
                                 return listed_at_interrupt_s > kBroadcastClipSeconds + 0.5;
                               });
  EXPECT_TRUE(run.interrupted) << transcript(run);
  expect_clean_exit(run);

  const HlsPlaylist playlist = read_playlist(playlist_path);
  for (const auto &segment : playlist.segments)
    EXPECT_GT(read_file(out_ + "/hls/" + segment).size(), 0u) << segment;
  EXPECT_TRUE(playlist.ended) << playlist.text;
  EXPECT_GE(playlist.segments.size(), 4u) << playlist.text;
  EXPECT_GT(playlist.total_s, kBroadcastClipSeconds + 0.5) << playlist.text;
  // The stop (SIGINT, then EOS) ended the stream before another pass of the clip: what follows
  // the listed segments is the open one, what the encoders still held and the signal's way to the
  // element (under two seconds in the sanitizer build on a loaded machine).
  EXPECT_LT(playlist.total_s, listed_at_interrupt_s + kBroadcastClipSeconds) << playlist.text;
  // A live source cannot write more stream than time has passed.
  EXPECT_LT(playlist.total_s, run.seconds) << playlist.text;
  EXPECT_EQ(submits(read_log(server)).size(), 1u);  // looping replays, it does not regenerate
}

TEST_F(ExamplesTest, BroadcastLoopBoundedBySecondsEndsItsPlaylist) {
  DevServerProcess server;
  constexpr int kSeconds = 3;
  ExampleRun run = run_example(
      {"bash", script("broadcast-loop.sh"), out_, std::to_string(kSeconds)}, server.url());
  expect_clean_exit(run);  // timeout's status for a bounded run is not an error
  EXPECT_GE(run.seconds, kSeconds) << transcript(run);

  // How much of the bound is stream depends on how long gst-launch-1.0 takes to start and the
  // clip to be generated, none at all on a slow enough machine; what holds either way: the
  // segments the script counts are those on disk, and any stream written was ended by the stop.
  const HlsPlaylist playlist = read_playlist(out_ + "/hls/playlist.m3u8");
  GDir *dir = g_dir_open((out_ + "/hls").c_str(), 0, nullptr);
  ASSERT_NE(dir, nullptr);
  size_t files = 0;
  while (const gchar *name = g_dir_read_name(dir))
    if (g_str_has_prefix(name, "segment-")) ++files;
  g_dir_close(dir);
  EXPECT_NE(run.out.find("Segments: " + std::to_string(files) + "\n"), std::string::npos)
      << run.out;
  EXPECT_EQ(playlist.segments.size(), files) << playlist.text;
  EXPECT_EQ(playlist.ended, files > 0) << playlist.text;
  EXPECT_LT(playlist.total_s, run.seconds) << playlist.text;
}

TEST_F(ExamplesTest, SubmitThenAttachSubmitsOnceAndPlaysTheTask) {
  DevServerProcess server;
  ExampleRun run = run_example({"bash", script("submit-then-attach.sh"), out_}, server.url());
  expect_clean_exit(run);

  const size_t at = run.out.find("Task id: ");
  ASSERT_NE(at, std::string::npos) << run.out;
  const std::string task_id = run.out.substr(at + 9, run.out.find('\n', at) - at - 9);
  ASSERT_FALSE(task_id.empty()) << run.out;
  const auto log = read_log(server);
  const auto posts = submits(log);
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].task_id, task_id);
  const bool downloaded = std::any_of(log.begin(), log.end(), [&](const LogEntry &entry) {
    return entry.method == "GET" && entry.path == "/files/" + task_id + ".mp4";
  });
  EXPECT_TRUE(downloaded);
  gint64 charged = -1;
  for (const auto &entry : log)
    if (entry.event == "charge" && entry.task_id == task_id) charged = entry.tokens;
  EXPECT_NE(run.out.find("total tokens " + std::to_string(charged)), std::string::npos) << run.out;

  auto clip = decode_matroska(out_ + "/attached.mkv");
  EXPECT_TRUE(clip->bus.eos) << clip->bus.error_text;
  EXPECT_EQ(clip->sink("sink_video").pts.size(), 96u);
}

// Both applications print the same lines: progress, task states, tokens, "done".
void expect_app_report(DevServerProcess &server, const ExampleRun &run) {
  expect_clean_exit(run);
  const auto log = read_log(server);
  const auto posts = submits(log);
  ASSERT_EQ(posts.size(), 1u);
  const std::string task_id = posts[0].task_id;
  gint64 charged = -1;
  for (const auto &entry : log)
    if (entry.event == "charge" && entry.task_id == task_id) charged = entry.tokens;
  EXPECT_GT(charged, 0);
  EXPECT_NE(run.out.find("progress: Submitting"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("task " + task_id + ": succeeded"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("tokens spent: " + std::to_string(charged) + " "), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("\ndone\n"), std::string::npos) << run.out;
}

TEST_F(ExamplesTest, CppAppPrintsProgressAndTheTokensCharged) {
  DevServerProcess server;
  ExampleRun run =
      run_example({script("see2ai-example-app"), "a lighthouse in a storm"}, server.url());
  expect_app_report(server, run);
}

TEST_F(ExamplesTest, CppAppReportsARejectedKeyAndFails) {
  DevServerProcess server;
  ExampleRun run = run_example({script("see2ai-example-app")}, server.url(), "not-a-tenant-key");
  EXPECT_FALSE(run.hung);
  EXPECT_TRUE(run.exited);
  EXPECT_EQ(run.exit_code, 1) << transcript(run);
  EXPECT_NE(run.err.find("http status: 401"), std::string::npos) << transcript(run);
  EXPECT_EQ(run.out.find("not-a-tenant-key"), std::string::npos);
  EXPECT_EQ(run.err.find("not-a-tenant-key"), std::string::npos);
}

TEST_F(ExamplesTest, PythonAppPrintsProgressAndTheTokensCharged) {
  DevServerProcess server;
  // The system interpreter: python3-gi is a Debian package, not in any virtualenv.
  ExampleRun run =
      run_example({"/usr/bin/python3", script("see2ai_app.py"), "a lighthouse"}, server.url());
  expect_app_report(server, run);
}

}  // namespace

namespace {

TEST_F(ExamplesTest, GesEditChainRendersThreeTrimmedShotsCrossfadedAndTitled) {
  DevServerProcess server;
  const std::string out = out_ + "/edit.mp4";
  // Three 480p shots decoded, composited and encoded: the heaviest example (the sanitizer build
  // takes minutes over it), so a longer guard.
  ExampleRun run = run_example({"/usr/bin/python3", script("ges_edit_chain.py"), out}, server.url(),
                               kKey, {}, 240);
  expect_clean_exit(run);
  // Three shots of two seconds, overlapping by half a second twice.
  EXPECT_NE(run.out.find("Wrote " + out + " (5.00 s)"), std::string::npos) << transcript(run);
  PipelineRun clip("filesrc location=" + out +
                   " ! qtdemux name=d d.video_0 ! queue ! h264parse ! avdec_h264 ! "
                   "appsink name=sink_video d.audio_0 ! queue ! aacparse ! avdec_aac ! "
                   "appsink name=sink_audio");
  clip.play_to_end(60);
  EXPECT_TRUE(clip.bus.eos) << clip.bus.error_text;
  const auto &video = clip.sink("sink_video");
  EXPECT_EQ(video.pts.size(), 5u * 24);
  EXPECT_EQ(video.width, 854);
  EXPECT_EQ(video.height, 480);
  EXPECT_NEAR(last_end_s(clip.sink("sink_audio")), 5.0, 0.05);
  // Each shot was generated once, though GES opened each URI twice.
  const auto posts = submits(read_log(server));
  EXPECT_EQ(posts.size(), 3u);
}

}  // namespace

namespace {

// What a storyboard promises: each shot's chapter title (play.title, else its prompt) and length
// (its duration, else the script's duration=4).
struct PlannedShot {
  std::string title;
  double seconds = 4;
};

std::vector<PlannedShot> read_storyboard(const std::string &path) {
  std::vector<PlannedShot> shots;
  JsonParser *parser = json_parser_new();
  if (json_parser_load_from_file(parser, path.c_str(), nullptr)) {
    JsonArray *array = json_node_get_array(json_parser_get_root(parser));
    for (guint i = 0; i < json_array_get_length(array); ++i) {
      JsonObject *shot = json_array_get_object_element(array, i);
      PlannedShot planned;
      planned.title = json_object_get_string_member(shot, "prompt");
      if (json_object_has_member(shot, "duration"))
        planned.seconds = static_cast<double>(json_object_get_int_member(shot, "duration"));
      if (json_object_has_member(shot, "play")) {
        JsonObject *play = json_object_get_object_member(shot, "play");
        if (json_object_has_member(play, "title"))
          planned.title = json_object_get_string_member(play, "title");
      }
      shots.push_back(planned);
    }
  }
  g_object_unref(parser);
  return shots;
}

TEST_F(ExamplesTest, StoryboardToMkvWritesOneChapterPerShot) {
  DevServerProcess server;
  ExampleRun run =
      run_example({"bash", script("storyboard-to-mkv.sh"), out_}, server.url(), kKey, {}, 120);
  expect_clean_exit(run);
  const std::string mkv = out_ + "/storyboard.mkv";
  EXPECT_NE(run.out.find("Wrote " + mkv), std::string::npos) << transcript(run);

  const std::vector<PlannedShot> shots = read_storyboard(script("storyboard.json"));
  ASSERT_GE(shots.size(), 3u);
  double total_s = 0;
  for (const auto &shot : shots) total_s += shot.seconds;

  PipelineRun clip("filesrc location=\"" + mkv +
                   "\" ! matroskademux name=d "
                   "d.video_0 ! queue ! h264parse ! avdec_h264 ! appsink name=sink_video "
                   "d.audio_0 ! queue ! opusparse ! opusdec ! appsink name=sink_audio");
  see2ai::test::SinkEvents toc;
  GstElement *video_sink = clip.by_name("sink_video");
  toc.attach(video_sink);
  gst_object_unref(video_sink);
  clip.play_to_end(60);
  EXPECT_TRUE(clip.bus.eos) << clip.bus.error_text;
  // Every frame of every shot, and sound under all of it.
  EXPECT_EQ(clip.sink("sink_video").pts.size(), static_cast<size_t>(total_s * 24));
  EXPECT_NEAR(last_end_s(clip.sink("sink_video")), total_s, 0.05);
  EXPECT_NEAR(last_end_s(clip.sink("sink_audio")), total_s, 0.1);

  std::lock_guard<std::mutex> guard(toc.lock);
  ASSERT_NE(toc.toc, nullptr) << "the file has no chapters";
  const std::vector<see2ai::test::TocChapter> chapters = see2ai::test::chapters_of(toc.toc);
  ASSERT_EQ(chapters.size(), shots.size());
  double start_s = 0;
  for (size_t i = 0; i < shots.size(); ++i) {
    EXPECT_EQ(chapters[i].title, shots[i].title) << "chapter " << i;
    EXPECT_NEAR(static_cast<double>(chapters[i].start) / GST_SECOND, start_s, 0.001)
        << "chapter " << i;
    EXPECT_NEAR(static_cast<double>(chapters[i].stop) / GST_SECOND, start_s + shots[i].seconds,
                0.001)
        << "chapter " << i;
    start_s += shots[i].seconds;
  }
  EXPECT_EQ(submits(read_log(server)).size(), shots.size());
}

TEST_F(ExamplesTest, LiveChannelSwitchesToEachAppendedShotIntoHls) {
  DevServerProcess server;
  constexpr int kShots = 3;
  ExampleRun run = run_example({"/usr/bin/python3", script("live_channel.py"), server.url(), out_,
                                std::to_string(kShots), "2"},
                               server.url(), kKey, {}, 120);
  expect_clean_exit(run);

  // One line per switch, in the order the shots were appended.
  size_t at = 0;
  for (int i = 0; i < kShots; ++i) {
    const std::string line = "on air: shot " + std::to_string(i) + " at ";
    const size_t found = run.out.find(line, at);
    ASSERT_NE(found, std::string::npos) << "shot " << i << " in order\n" << transcript(run);
    at = found + line.size();
  }
  EXPECT_EQ(run.out.find("on air: shot " + std::to_string(kShots)), std::string::npos)
      << transcript(run);

  std::ifstream in(out_ + "/hls/playlist.m3u8");
  std::string playlist, line;
  std::vector<std::string> segments;
  while (std::getline(in, line)) {
    playlist += line + "\n";
    if (line.rfind("#EXTINF:", 0) != 0) continue;
    std::string segment;
    ASSERT_TRUE(std::getline(in, segment)) << playlist;
    playlist += segment + "\n";
    segments.push_back(segment);
  }
  EXPECT_NE(playlist.find("#EXT-X-ENDLIST"), std::string::npos) << playlist;
  // Three 4 s shots went on air one after another: more than two shots' worth of segments.
  ASSERT_GE(segments.size(), 8u) << playlist;
  size_t frames = 0;
  for (const auto &segment : segments) {
    PipelineRun decode("filesrc location=\"" + out_ + "/hls/" + segment +
                       "\" ! tsdemux ! h264parse ! avdec_h264 ! appsink name=sink_video");
    decode.play_to_end(60);
    EXPECT_TRUE(decode.bus.eos) << segment << ": " << decode.bus.error_text;
    EXPECT_EQ(decode.bus.errors, 0) << segment;
    EXPECT_GT(decode.sink("sink_video").pts.size(), 0u) << segment;
    EXPECT_EQ(decode.sink("sink_video").height, 480) << segment;
    frames += decode.sink("sink_video").pts.size();
  }
  EXPECT_GT(frames, 2u * 4 * 24) << "past the end of the second shot";
  EXPECT_EQ(submits(read_log(server)).size(), static_cast<size_t>(kShots));
}

}  // namespace
