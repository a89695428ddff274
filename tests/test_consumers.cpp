// GStreamer's own consumers (playbin, playbin3, uridecodebin3, urisourcebin ! decodebin3, the
// discoverer, GES timelines, the transcoder, ges-launch-1.0 and gst-transcoder-1.0) play see2ai://
// clips served by the real dev server exactly as they play the same MP4 from file://: same frames
// and samples, same first and last timestamps, EOS, no error. Each clip shape the service or a
// CDN may hand out is covered: with and without sound, moov first or last, fragmented, 9:16.
#include <ges/ges.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/audio/audio.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <gst/transcoder/gsttranscoder.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "clip_decoder.h"
#include "clip_renderer.h"
#include "devserver_process.h"
#include "growing_file.h"

using see2ai::test::DevServerProcess;
using see2ai::test::make_temp_dir;

namespace {

constexpr const char *kKey = "test-key-0123456789";  // DevServerArgs' default tenant
constexpr double kRunTimeoutS = 60;
constexpr int kFps = 24;
constexpr double kClipSeconds = 2.0;
constexpr int kClipFrames = 48;
constexpr GstClockTime kFrame = GST_SECOND / kFps;

// The clip shapes, each rendered once with clipgen and served as its own task (see2ai://task/NAME).
struct Shape {
  const char *name;
  int width, height;
  see2ai::dev::AudioTrack audio;
  see2ai::dev::Mp4Layout layout;
};
const Shape kShapes[] = {
    {"av", 320, 180, see2ai::dev::AudioTrack::Mono, see2ai::dev::Mp4Layout::Faststart},
    {"video-only", 320, 180, see2ai::dev::AudioTrack::None, see2ai::dev::Mp4Layout::Faststart},
    {"moov-last", 320, 180, see2ai::dev::AudioTrack::Mono, see2ai::dev::Mp4Layout::MoovAtEnd},
    {"fragmented", 320, 180, see2ai::dev::AudioTrack::Stereo, see2ai::dev::Mp4Layout::Fragmented},
    {"portrait", 180, 320, see2ai::dev::AudioTrack::Mono, see2ai::dev::Mp4Layout::Faststart},
};

const Shape &shape_named(const std::string &name) {
  for (const Shape &shape : kShapes)
    if (name == shape.name) return shape;
  throw std::runtime_error("no clip shape " + name);
}

// What reached the sinks of one kind of stream, timestamps in stream time.
struct StreamTrace {
  int64_t buffers = 0;
  int64_t samples = 0;  // audio only
  GstClockTime first = GST_CLOCK_TIME_NONE;
  GstClockTime last = GST_CLOCK_TIME_NONE;  // start of the last buffer
  GstClockTime end = GST_CLOCK_TIME_NONE;   // end of the last buffer
};

struct RunResult {
  StreamTrace video, audio;
  bool eos = false;
  bool segment_done = false;
  bool timed_out = false;
  int errors = 0;
  std::string error_text;
  bool prerolled = false;
  bool seek_accepted = true;
  bool seek_during_download = false;  // the clip was still downloading when the seek was sent
  std::vector<std::string> stream_ids;
};

std::string describe(const StreamTrace &s) {
  return std::to_string(s.buffers) + " buffers, " + std::to_string(s.samples) + " samples, " +
         std::to_string(s.first) + ".." + std::to_string(s.end);
}

std::string describe(const RunResult &r) {
  return "video: " + describe(r.video) + "; audio: " + describe(r.audio) +
         "; eos=" + std::to_string(r.eos) + " segment-done=" + std::to_string(r.segment_done) +
         " errors=" + std::to_string(r.errors) + " (" + r.error_text + ")" +
         (r.prerolled ? "" : " NOT PREROLLED") + (r.timed_out ? " TIMED OUT" : "");
}

// Counts what a sink pad receives: pictures, sound samples, and where they sit in stream time.
class Recorder {
 public:
  void attach(GstElement *sink) {
    GstPad *pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(
        pad,
        static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER |
                                     GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
        [](GstPad *probed, GstPadProbeInfo *info, gpointer self) {
          auto *recorder = static_cast<Recorder *>(self);
          if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
            recorder->record(probed, GST_PAD_PROBE_INFO_BUFFER(info));
          else if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_SEGMENT_DONE)
            recorder->segment_done();
          return GST_PAD_PROBE_OK;
        },
        this, nullptr);
    gst_object_unref(pad);
    std::lock_guard<std::mutex> guard(mutex_);
    ++sinks_;
  }
  // From now on only what follows the segment of the seek with this seqnum counts (buffers that
  // were on their way before it, a preroll buffer included, do not).
  void count_after_seek(guint32 seqnum) {
    std::lock_guard<std::mutex> guard(mutex_);
    seek_seqnum_ = seqnum;
    video_ = StreamTrace();
    audio_ = StreamTrace();
    segment_done_sinks_ = 0;
  }
  // Forgets the sound so far: from now on it must not come any more.
  void forget_audio() {
    std::lock_guard<std::mutex> guard(mutex_);
    audio_ = StreamTrace();
  }
  // Every sink has had its SEGMENT_DONE event, after everything before it.
  bool all_segment_done() {
    std::lock_guard<std::mutex> guard(mutex_);
    return sinks_ > 0 && segment_done_sinks_ >= sinks_;
  }
  void copy_to(RunResult *result) {
    std::lock_guard<std::mutex> guard(mutex_);
    result->video = video_;
    result->audio = audio_;
  }

 private:
  void record(GstPad *pad, GstBuffer *buffer) {
    GstCaps *caps = gst_pad_get_current_caps(pad);
    if (!caps) return;
    const bool audio = gst_structure_has_name(gst_caps_get_structure(caps, 0), "audio/x-raw");
    int64_t samples = 0;
    if (audio) {
      GstAudioInfo info;
      if (gst_audio_info_from_caps(&info, caps) && info.bpf > 0)
        samples = static_cast<int64_t>(gst_buffer_get_size(buffer) / info.bpf);
    }
    gst_caps_unref(caps);
    GstClockTime start = GST_BUFFER_PTS(buffer);
    GstClockTime end = GST_CLOCK_TIME_IS_VALID(GST_BUFFER_DURATION(buffer))
                           ? start + GST_BUFFER_DURATION(buffer)
                           : start;
    guint32 segment_seqnum = GST_SEQNUM_INVALID;
    if (GstEvent *event = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0)) {
      const GstSegment *segment = nullptr;
      gst_event_parse_segment(event, &segment);
      segment_seqnum = gst_event_get_seqnum(event);
      start = gst_segment_to_stream_time(segment, GST_FORMAT_TIME, start);
      end = gst_segment_to_stream_time(segment, GST_FORMAT_TIME, end);
      gst_event_unref(event);
    }
    std::lock_guard<std::mutex> guard(mutex_);
    if (seek_seqnum_ != GST_SEQNUM_INVALID && segment_seqnum != seek_seqnum_) return;
    StreamTrace &trace = audio ? audio_ : video_;
    ++trace.buffers;
    trace.samples += samples;
    if (!GST_CLOCK_TIME_IS_VALID(trace.first)) trace.first = start;
    trace.last = start;
    trace.end = end;
  }

  void segment_done() {
    std::lock_guard<std::mutex> guard(mutex_);
    ++segment_done_sinks_;
  }

  std::mutex mutex_;
  StreamTrace video_, audio_;
  guint32 seek_seqnum_ = GST_SEQNUM_INVALID;
  int sinks_ = 0;
  int segment_done_sinks_ = 0;
};

GstElement *counting_sink(Recorder *recorder) {
  GstElement *sink = gst_element_factory_make("fakesink", nullptr);
  g_object_set(sink, "sync", FALSE, nullptr);
  recorder->attach(sink);
  return sink;
}

// A seek the run sends once the pipeline has prerolled.
struct SeekPlan {
  GstSeekFlags flags = GST_SEEK_FLAG_NONE;
  GstClockTime start = 0;
  GstClockTime stop = GST_CLOCK_TIME_NONE;
};

// Runs one consumer pipeline: preroll, the optional seek, then PLAYING until EOS, SEGMENT_DONE or
// an error.
class ConsumerRun {
 public:
  explicit ConsumerRun(GstElement *pipeline, double timeout_s = kRunTimeoutS)
      : pipeline_(pipeline), timeout_s_(timeout_s) {}
  ~ConsumerRun() {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(pipeline_);
  }
  ConsumerRun(const ConsumerRun &) = delete;
  ConsumerRun &operator=(const ConsumerRun &) = delete;

  GstElement *pipeline() const { return pipeline_; }
  Recorder recorder;
  // Called for each stream collection the pipeline posts (on the test thread).
  std::function<void(GstStreamCollection *)> on_collection;
  // Called once prerolled, before any seek; returns true when it is done with the pipeline
  // (pump_until() runs the bus meanwhile).
  std::function<bool(RunResult *)> after_preroll;
  // decodebin3 inside: it has made its first stream selection (STREAMS_SELECTED) before the run
  // seeks (seeking playbin3 before that stalls it now and then, on a local file too).
  bool settle_selection = false;
  // Asked just before the seek: true while the clip still downloads.
  std::function<bool()> still_downloading;

  RunResult run(const std::optional<SeekPlan> &seek = std::nullopt) {
    RunResult result;
    gst_element_set_state(pipeline_, GST_STATE_PAUSED);
    result.prerolled = pump(&result, true);
    if (result.prerolled && after_preroll) result.prerolled = after_preroll(&result);
    if (result.prerolled && seek && settle_selection && !streams_selected_)
      result.prerolled = pump_until(&result, [](GstMessage *message) {
        return GST_MESSAGE_TYPE(message) == GST_MESSAGE_STREAMS_SELECTED;
      });
    if (result.prerolled && seek) {
      if (still_downloading) result.seek_during_download = still_downloading();
      GstEvent *event = gst_event_new_seek(
          1.0, GST_FORMAT_TIME, static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | seek->flags),
          GST_SEEK_TYPE_SET, static_cast<gint64>(seek->start),
          GST_CLOCK_TIME_IS_VALID(seek->stop) ? GST_SEEK_TYPE_SET : GST_SEEK_TYPE_NONE,
          GST_CLOCK_TIME_IS_VALID(seek->stop) ? static_cast<gint64>(seek->stop) : -1);
      // What comes after the seek carries its seqnum on its segment, from the file's demuxer as
      // from the element.
      recorder.count_after_seek(gst_event_get_seqnum(event));
      result.seek_accepted = gst_element_send_event(pipeline_, event);
      if (result.seek_accepted) result.prerolled = pump(&result, true);
    }
    if (result.prerolled && result.seek_accepted) {
      gst_element_set_state(pipeline_, GST_STATE_PLAYING);
      pump(&result, false);
    }
    recorder.copy_to(&result);
    return result;
  }

  // Runs the bus until `reached` says so for a message (true), or the run ends (false).
  bool pump_until(RunResult *result, std::function<bool(GstMessage *)> reached) {
    until_ = std::move(reached);
    const bool done = pump(result, false);
    until_ = nullptr;
    return done;
  }

 private:
  // Until ASYNC_DONE (preroll), until_ or the end; false when the run ended first.
  bool pump(RunResult *result, bool until_preroll) {
    GstBus *bus = gst_element_get_bus(pipeline_);
    const gint64 deadline =
        g_get_monotonic_time() + static_cast<gint64>(timeout_s_ * G_USEC_PER_SEC);
    bool reached = false;
    while (!reached) {
      const gint64 left = deadline - g_get_monotonic_time();
      if (left <= 0) {
        result->timed_out = true;
        break;
      }
      if (result->segment_done && recorder.all_segment_done()) break;
      const gint64 wait = result->segment_done ? std::min<gint64>(left, 10000) : left;
      GstMessage *msg = gst_bus_timed_pop(bus, static_cast<GstClockTime>(wait) * GST_USECOND);
      if (!msg) continue;
      bool over = false;
      switch (GST_MESSAGE_TYPE(msg)) {
        case GST_MESSAGE_ERROR: {
          GError *error = nullptr;
          gchar *debug = nullptr;
          gst_message_parse_error(msg, &error, &debug);
          if (result->errors++ == 0)
            result->error_text = std::string(error->message) + " / " + (debug ? debug : "");
          g_error_free(error);
          g_free(debug);
          over = true;
          break;
        }
        case GST_MESSAGE_EOS:
          result->eos = true;
          over = true;
          break;
        case GST_MESSAGE_SEGMENT_DONE:
          // The sources reached the stop; the sinks may still have pictures and sound to get.
          if (GST_MESSAGE_SRC(msg) == GST_OBJECT(pipeline_)) result->segment_done = true;
          break;
        case GST_MESSAGE_ASYNC_DONE:
          if (until_preroll && GST_MESSAGE_SRC(msg) == GST_OBJECT(pipeline_)) reached = true;
          break;
        default:
          if (until_ && until_(msg)) reached = true;
          break;
        case GST_MESSAGE_STREAMS_SELECTED:
          streams_selected_ = true;
          if (until_ && until_(msg)) reached = true;
          break;
        case GST_MESSAGE_STREAM_COLLECTION:
          if (on_collection) {
            GstStreamCollection *collection = nullptr;
            gst_message_parse_stream_collection(msg, &collection);
            on_collection(collection);
            gst_object_unref(collection);
          }
          break;
      }
      gst_message_unref(msg);
      if (over) break;
    }
    gst_object_unref(bus);
    return reached;
  }

  GstElement *pipeline_;
  double timeout_s_;
  std::function<bool(GstMessage *)> until_;
  bool streams_selected_ = false;
};

// playbin or playbin3 with counting sinks.
std::unique_ptr<ConsumerRun> playbin_run(const char *factory, const std::string &uri,
                                         double timeout_s = kRunTimeoutS) {
  GstElement *playbin = gst_element_factory_make(factory, nullptr);
  auto run = std::make_unique<ConsumerRun>(playbin, timeout_s);
  run->settle_selection = std::string(factory) == "playbin3";
  g_object_set(playbin, "uri", uri.c_str(), "video-sink", counting_sink(&run->recorder),
               "audio-sink", counting_sink(&run->recorder), nullptr);
  return run;
}

// Every raw pad the element exposes goes to a counting sink of its own (decodebin3 also announces
// the sink pads it is asked for: those are not outputs).
void link_to_counting_sink(GstElement *element, GstPad *pad, ConsumerRun *run) {
  if (!GST_PAD_IS_SRC(pad)) return;
  GstElement *pipeline = run->pipeline();
  GstElement *sink = counting_sink(&run->recorder);
  gst_bin_add(GST_BIN(pipeline), sink);
  GstPad *sink_pad = gst_element_get_static_pad(sink, "sink");
  if (gst_pad_link(pad, sink_pad) != GST_PAD_LINK_OK)
    GST_ELEMENT_ERROR(element, CORE, PAD, ("test: cannot link %s", GST_PAD_NAME(pad)), (nullptr));
  gst_object_unref(sink_pad);
  gst_element_sync_state_with_parent(sink);
}

std::unique_ptr<ConsumerRun> decodebin_run(const char *factory, const std::string &uri,
                                           double timeout_s = kRunTimeoutS) {
  GstElement *pipeline = gst_pipeline_new(nullptr);
  auto run = std::make_unique<ConsumerRun>(pipeline, timeout_s);
  run->settle_selection = std::string(factory) == "uridecodebin3";
  GstElement *decodebin = gst_element_factory_make(factory, nullptr);
  g_object_set(decodebin, "uri", uri.c_str(), nullptr);
  gst_bin_add(GST_BIN(pipeline), decodebin);
  g_signal_connect(decodebin, "pad-added",
                   G_CALLBACK(+[](GstElement *element, GstPad *pad, gpointer data) {
                     link_to_counting_sink(element, pad, static_cast<ConsumerRun *>(data));
                   }),
                   run.get());
  return run;
}

// urisourcebin ! decodebin3, as uridecodebin3 builds it: each source pad on an input of its own.
std::unique_ptr<ConsumerRun> urisourcebin_decodebin3_run(const std::string &uri,
                                                         double timeout_s = kRunTimeoutS) {
  GstElement *pipeline = gst_pipeline_new(nullptr);
  auto run = std::make_unique<ConsumerRun>(pipeline, timeout_s);
  GstElement *source = gst_element_factory_make("urisourcebin", nullptr);
  GstElement *decodebin = gst_element_factory_make("decodebin3", nullptr);
  g_object_set(source, "uri", uri.c_str(), nullptr);
  gst_bin_add_many(GST_BIN(pipeline), source, decodebin, nullptr);
  g_signal_connect(
      source, "pad-added", G_CALLBACK(+[](GstElement *element, GstPad *pad, gpointer data) {
        auto *decoder = static_cast<GstElement *>(data);
        GstPad *input = gst_element_get_static_pad(decoder, "sink");
        if (gst_pad_is_linked(input)) {
          gst_object_unref(input);
          input = gst_element_request_pad_simple(decoder, "sink_%u");
        }
        if (gst_pad_link(pad, input) != GST_PAD_LINK_OK)
          GST_ELEMENT_ERROR(element, CORE, PAD, ("test: cannot link to decodebin3"), (nullptr));
        gst_object_unref(input);
      }),
      decodebin);
  g_signal_connect(decodebin, "pad-added",
                   G_CALLBACK(+[](GstElement *element, GstPad *pad, gpointer data) {
                     link_to_counting_sink(element, pad, static_cast<ConsumerRun *>(data));
                   }),
                   run.get());
  return run;
}

// The same consumer on the MP4 from file://, what the served clip must match. GStreamer 1.22's
// decodebin3 now and then stalls in preroll on a local file (a race of its own with parsebin, which
// posts its collection twice: no buffer ever comes), and once it has, later runs in the process
// tend to stall too. The reference is then taken with `fallback`, the decodebin2 consumer that
// decodes the file with the same decoders (playbin for playbin3, uridecodebin for uridecodebin3);
// the served run is never retried nor replaced.
using MakeRun = std::function<std::unique_ptr<ConsumerRun>(double timeout_s)>;
constexpr double kBaselineTimeoutS = 8;  // a run on the local file takes well under a second

RunResult file_baseline(const MakeRun &make, const MakeRun &fallback,
                        const std::optional<SeekPlan> &seek = std::nullopt) {
  RunResult result = make(kBaselineTimeoutS)->run(seek);
  if (!result.timed_out) return result;
  ::testing::Test::RecordProperty("file_reference", "decodebin3 stalled, decodebin2's taken");
  return fallback(kRunTimeoutS)->run(seek);
}

// The served clip plays as the file does: same pictures and sound samples at the same times.
void expect_same_play(const RunResult &served, const RunResult &file, const std::string &what,
                      double sound_tolerance_samples = 1024) {
  SCOPED_TRACE(what);
  ASSERT_EQ(file.errors, 0) << "the file itself fails: " << describe(file);
  ASSERT_EQ(served.errors, 0) << describe(served);
  EXPECT_TRUE(served.seek_accepted);
  EXPECT_FALSE(served.timed_out) << describe(served);
  EXPECT_EQ(served.eos, file.eos) << describe(served) << " / file: " << describe(file);
  EXPECT_EQ(served.segment_done, file.segment_done);
  EXPECT_GT(file.video.buffers, 0);
  EXPECT_EQ(served.video.buffers, file.video.buffers)
      << describe(served) << " / file: " << describe(file);
  EXPECT_EQ(served.video.first, file.video.first);
  EXPECT_EQ(served.video.last, file.video.last);
  EXPECT_EQ(served.audio.buffers > 0, file.audio.buffers > 0);
  // The sound: the same start; the end within one AAC frame (1024 samples). The edit list ends the
  // track inside its last AAC frame: GStreamer's qtdemux and decoder drop that frame's last 16 ms
  // of sound, libav keeps the whole frame (the encoder's padding after the end included).
  const double tolerance_ns = sound_tolerance_samples * 1e9 / 48000;
  EXPECT_NEAR(static_cast<double>(served.audio.samples), static_cast<double>(file.audio.samples),
              sound_tolerance_samples)
      << describe(served) << " / file: " << describe(file);
  if (file.audio.buffers > 0) {
    EXPECT_NEAR(static_cast<double>(served.audio.first), static_cast<double>(file.audio.first),
                1e6);
    EXPECT_NEAR(static_cast<double>(served.audio.end), static_cast<double>(file.audio.end),
                tolerance_ns);
  }
}

std::string json_string(const std::string &text) {
  gchar *escaped = g_strescape(text.c_str(), nullptr);
  std::string quoted = std::string("\"") + escaped + "\"";
  g_free(escaped);
  return quoted;
}

class ConsumerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    ges_init();
    server_ = new DevServerProcess();
    // Every element the consumers make reads the service and the key from the environment.
    g_setenv("SEE2AI_API_URL", server_->url().c_str(), TRUE);
    g_setenv("SEE2AI_API_KEY", kKey, TRUE);
    for (const Shape &shape : kShapes) {
      see2ai::dev::RenderSpec spec;
      spec.width = shape.width;
      spec.height = shape.height;
      spec.fps_num = kFps;
      spec.duration_s = kClipSeconds;
      spec.audio = shape.audio;
      spec.layout = shape.layout;
      spec.seed_text = std::string("consumer clip ") + shape.name;
      see2ai::dev::render_clip(spec, clip_path(shape.name));
      // The task NAME has succeeded with the clip as its one result file.
      const std::string body = "{\"task_id\":\"" + std::string(shape.name) +
                               "\",\"state\":\"succeeded\",\"result_urls\":[\"" + server_->url() +
                               "/files/" + shape.name + ".mp4\"]}";
      server_->add_faults(R"([{"match":"status","times":-1,"status":200,"path":"/api/v1/status/)" +
                          std::string(shape.name) + R"(","body":)" + json_string(body) + "}]");
    }
    // A task with two result files of different shapes, played as one stream.
    const std::string two =
        "{\"task_id\":\"two-files\",\"state\":\"succeeded\",\"result_urls\":[\"" + server_->url() +
        "/files/av.mp4\",\"" + server_->url() + "/files/portrait.mp4\"]}";
    server_->add_faults(
        R"([{"match":"status","times":-1,"status":200,"path":"/api/v1/status/two-files","body":)" +
        json_string(two) + "}]");
  }
  static void TearDownTestSuite() {
    g_unsetenv("SEE2AI_API_URL");
    g_unsetenv("SEE2AI_API_KEY");
    delete server_;
    server_ = nullptr;
  }

  static std::string clip_path(const std::string &name) {
    return server_->output_dir() + "/" + name + ".mp4";
  }
  static std::string served_uri(const std::string &name) { return "see2ai://task/" + name; }
  static std::string file_uri(const std::string &name) {
    gchar *uri = gst_filename_to_uri(clip_path(name).c_str(), nullptr);
    std::string text = uri;
    g_free(uri);
    return text;
  }
  // How many times the dev server has sent the whole of /files/NAME.mp4.
  static int downloads_finished(const std::string &name) {
    const std::string path = "\"path\":\"/files/" + name + ".mp4\"";
    int finished = 0;
    for (const auto &line : server_->request_log())
      if (line.find(path) != std::string::npos && line.find("\"status\":200") != std::string::npos)
        ++finished;
    return finished;
  }

  static DevServerProcess *server_;
};
DevServerProcess *ConsumerTest::server_ = nullptr;

// ---- playback consumers, every clip shape ------------------------------------------------------

class ShapeTest : public ConsumerTest, public ::testing::WithParamInterface<std::string> {};

std::string shape_test_name(const ::testing::TestParamInfo<std::string> &info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Shapes, ShapeTest,
                         ::testing::Values("av", "video-only", "moov-last", "fragmented",
                                           "portrait"),
                         shape_test_name);

TEST_P(ShapeTest, PlaybinAndPlaybin3PlayToEosWithAnAccurateSeekAfterPreroll) {
  const SeekPlan seek{GST_SEEK_FLAG_ACCURATE, GST_SECOND / 2, GST_CLOCK_TIME_NONE};
  for (const char *factory : {"playbin", "playbin3"}) {
    RunResult file = file_baseline(
        [&](double timeout_s) { return playbin_run(factory, file_uri(GetParam()), timeout_s); },
        [&](double timeout_s) { return playbin_run("playbin", file_uri(GetParam()), timeout_s); },
        seek);
    RunResult served = playbin_run(factory, served_uri(GetParam()))->run(seek);
    expect_same_play(served, file, factory);
    EXPECT_TRUE(served.eos);
    EXPECT_EQ(served.video.buffers, kClipFrames - kFps / 2) << factory;
    EXPECT_EQ(served.video.first, GST_SECOND / 2) << factory;
  }
}

TEST_P(ShapeTest, Uridecodebin3PlaysToEos) {
  const MakeRun uridecodebin = [&](double timeout_s) {
    return decodebin_run("uridecodebin", file_uri(GetParam()), timeout_s);
  };
  RunResult file = file_baseline(
      [&](double timeout_s) {
        return decodebin_run("uridecodebin3", file_uri(GetParam()), timeout_s);
      },
      uridecodebin);
  RunResult served = decodebin_run("uridecodebin3", served_uri(GetParam()))->run();
  expect_same_play(served, file, "uridecodebin3");
  EXPECT_EQ(served.video.buffers, kClipFrames);
}

TEST_P(ShapeTest, UrisourcebinIntoDecodebin3PlaysToEos) {
  const MakeRun uridecodebin = [&](double timeout_s) {
    return decodebin_run("uridecodebin", file_uri(GetParam()), timeout_s);
  };
  RunResult file = file_baseline(
      [&](double timeout_s) {
        return urisourcebin_decodebin3_run(file_uri(GetParam()), timeout_s);
      },
      uridecodebin);
  RunResult served = urisourcebin_decodebin3_run(served_uri(GetParam()))->run();
  expect_same_play(served, file, "urisourcebin ! decodebin3");
  EXPECT_EQ(served.video.buffers, kClipFrames);
}

TEST_P(ShapeTest, SegmentSeekEndsEachStreamAtItsOwnStopAsTheFileDoes) {
  // 0.5..1.5 s: the pictures starting in it, the sound cut at both edges, then SEGMENT_DONE.
  const SeekPlan seek{static_cast<GstSeekFlags>(GST_SEEK_FLAG_ACCURATE | GST_SEEK_FLAG_SEGMENT),
                      GST_SECOND / 2, 3 * GST_SECOND / 2};
  const MakeRun uridecodebin = [&](double timeout_s) {
    return decodebin_run("uridecodebin", file_uri(GetParam()), timeout_s);
  };
  RunResult file = file_baseline(uridecodebin, uridecodebin, seek);
  RunResult served = decodebin_run("uridecodebin", served_uri(GetParam()))->run(seek);
  // qtdemux does not cut a fragmented track's sound at the segment's edges (it gives whole AAC
  // frames, up to 1152 samples more): the element's sound is checked against the segment itself.
  expect_same_play(served, file, "segment seek", 2048);
  EXPECT_TRUE(served.segment_done);
  if (shape_named(GetParam()).audio != see2ai::dev::AudioTrack::None) {
    EXPECT_EQ(served.audio.samples, 48000);
    EXPECT_EQ(served.audio.first, GST_SECOND / 2);
    EXPECT_EQ(served.audio.end, 3 * GST_SECOND / 2);
  }
  EXPECT_EQ(served.video.buffers, kFps);
  EXPECT_NEAR(static_cast<double>(served.video.last), 1.5e9 - 1e9 / kFps, 1e6);
}

TEST_P(ShapeTest, DiscovererSeesWhatItSeesInTheFile) {
  GstDiscoverer *discoverer = gst_discoverer_new(30 * GST_SECOND, nullptr);
  ASSERT_NE(discoverer, nullptr);
  auto discover = [&](const std::string &uri) {
    GError *error = nullptr;
    GstDiscovererInfo *info = gst_discoverer_discover_uri(discoverer, uri.c_str(), &error);
    EXPECT_EQ(error, nullptr) << uri << ": " << (error ? error->message : "");
    g_clear_error(&error);
    return info;
  };
  GstDiscovererInfo *file = discover(file_uri(GetParam()));
  GstDiscovererInfo *served = discover(served_uri(GetParam()));
  GstDiscovererInfo *again = discover(served_uri(GetParam()));
  ASSERT_TRUE(file && served && again);
  EXPECT_EQ(gst_discoverer_info_get_result(served), GST_DISCOVERER_OK);
  // The clip's length; the file's too, except for the fragmented MP4, where qtdemux gives only the
  // first fragment's.
  EXPECT_EQ(gst_discoverer_info_get_duration(served), kClipSeconds * GST_SECOND);
  if (GetParam() != "fragmented") {
    EXPECT_EQ(gst_discoverer_info_get_duration(served), gst_discoverer_info_get_duration(file));
  }
  EXPECT_TRUE(gst_discoverer_info_get_seekable(served));
  EXPECT_FALSE(gst_discoverer_info_get_live(served));

  GList *file_videos = gst_discoverer_info_get_video_streams(file);
  GList *videos = gst_discoverer_info_get_video_streams(served);
  GList *file_audios = gst_discoverer_info_get_audio_streams(file);
  GList *audios = gst_discoverer_info_get_audio_streams(served);
  ASSERT_EQ(g_list_length(videos), 1u);
  EXPECT_EQ(g_list_length(audios), g_list_length(file_audios));
  auto *video = GST_DISCOVERER_VIDEO_INFO(videos->data);
  auto *file_video = GST_DISCOVERER_VIDEO_INFO(file_videos->data);
  const Shape &shape = shape_named(GetParam());
  EXPECT_EQ(static_cast<int>(gst_discoverer_video_info_get_width(video)), shape.width);
  EXPECT_EQ(static_cast<int>(gst_discoverer_video_info_get_height(video)), shape.height);
  EXPECT_EQ(gst_discoverer_video_info_get_framerate_num(video),
            gst_discoverer_video_info_get_framerate_num(file_video));
  EXPECT_EQ(gst_discoverer_video_info_get_framerate_denom(video),
            gst_discoverer_video_info_get_framerate_denom(file_video));
  if (audios && file_audios) {
    auto *audio = GST_DISCOVERER_AUDIO_INFO(audios->data);
    auto *file_audio = GST_DISCOVERER_AUDIO_INFO(file_audios->data);
    EXPECT_EQ(gst_discoverer_audio_info_get_channels(audio),
              gst_discoverer_audio_info_get_channels(file_audio));
    EXPECT_EQ(gst_discoverer_audio_info_get_sample_rate(audio),
              gst_discoverer_audio_info_get_sample_rate(file_audio));
  }

  // The same URI gives the same stream ids every time (GES finds its streams again by them), all
  // under one prefix, as a demuxer's streams are.
  std::vector<std::string> ids, ids_again;
  for (GstDiscovererInfo *info : {served, again}) {
    GList *streams = gst_discoverer_info_get_stream_list(info);
    for (GList *s = streams; s; s = s->next) {
      const char *id =
          gst_discoverer_stream_info_get_stream_id(GST_DISCOVERER_STREAM_INFO(s->data));
      (info == served ? ids : ids_again).push_back(id ? id : "");
    }
    gst_discoverer_stream_info_list_free(streams);
  }
  EXPECT_EQ(ids, ids_again);
  ASSERT_FALSE(ids.empty());
  const std::string prefix = ids[0].substr(0, ids[0].find('/'));
  EXPECT_GE(prefix.size(), 16u) << ids[0];
  for (const auto &id : ids) EXPECT_EQ(id.rfind(prefix + "/", 0), 0u) << id;

  gst_discoverer_stream_info_list_free(videos);
  gst_discoverer_stream_info_list_free(file_videos);
  gst_discoverer_stream_info_list_free(audios);
  gst_discoverer_stream_info_list_free(file_audios);
  gst_discoverer_info_unref(file);
  gst_discoverer_info_unref(served);
  gst_discoverer_info_unref(again);
  g_object_unref(discoverer);
}

// ---- the stream collection ------------------------------------------------------------------

TEST_F(ConsumerTest, EveryPadCarriesTheCollectionInStepWithALaterFilesFormat) {
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch(
      "see2aivideosrc task-id=two-files name=s s.video ! fakesink sync=false "
      "s.audio ! fakesink sync=false",
      &error);
  ASSERT_NE(pipeline, nullptr) << (error ? error->message : "");
  ConsumerRun run(pipeline);
  RunResult result = run.run();
  ASSERT_EQ(result.errors, 0) << describe(result);
  ASSERT_TRUE(result.eos);
  GstElement *source = gst_bin_get_by_name(GST_BIN(pipeline), "s");
  ASSERT_NE(source, nullptr);
  int pads = 0;
  for (const char *name : {"video", "audio"}) {
    SCOPED_TRACE(name);
    GstPad *pad = gst_element_get_static_pad(source, name);
    ASSERT_NE(pad, nullptr);
    ++pads;
    GstStream *stream = gst_pad_get_stream(pad);
    GstEvent *event = gst_pad_get_sticky_event(pad, GST_EVENT_STREAM_COLLECTION, 0);
    ASSERT_TRUE(stream && event);
    GstStreamCollection *collection = nullptr;
    gst_event_parse_stream_collection(event, &collection);
    // The collection lists both streams, this pad's among them (the very object of its
    // stream-start), under the prefix of every stream id.
    ASSERT_EQ(gst_stream_collection_get_size(collection), 2u);
    bool found = false;
    for (guint i = 0; i < 2; ++i)
      found |= gst_stream_collection_get_stream(collection, i) == stream;
    EXPECT_TRUE(found);
    const std::string id = gst_stream_get_stream_id(stream);
    EXPECT_EQ(id, std::string(gst_stream_collection_get_upstream_id(collection)) + "/" + name);
    // In step with the second file: the stream's caps are the pad's caps now (9:16 for video).
    GstCaps *stream_caps = gst_stream_get_caps(stream);
    GstCaps *pad_caps = gst_pad_get_current_caps(pad);
    ASSERT_TRUE(stream_caps && pad_caps);
    EXPECT_TRUE(gst_caps_is_equal(stream_caps, pad_caps));
    if (std::string(name) == "video") {
      int width = 0, height = 0;
      gst_structure_get_int(gst_caps_get_structure(pad_caps, 0), "width", &width);
      gst_structure_get_int(gst_caps_get_structure(pad_caps, 0), "height", &height);
      EXPECT_LT(width, height);
    }
    gst_caps_unref(stream_caps);
    gst_caps_unref(pad_caps);
    gst_object_unref(collection);
    gst_event_unref(event);
    gst_object_unref(stream);
    gst_object_unref(pad);
  }
  EXPECT_EQ(pads, 2);
  gst_object_unref(source);
  // decodebin3 follows the second file's format as it goes.
  RunResult decoded = decodebin_run("uridecodebin3", served_uri("two-files"))->run();
  EXPECT_EQ(decoded.errors, 0) << describe(decoded);
  EXPECT_TRUE(decoded.eos);
  EXPECT_EQ(decoded.video.buffers, 2 * kClipFrames);
}

// ---- stream selection and seeking while the clip downloads ----------------------------------

// The stream types a streams-selected message lists.
std::vector<std::string> selected_types(GstMessage *message) {
  std::vector<std::string> types;
  for (guint i = 0; i < gst_message_streams_selected_get_size(message); ++i) {
    GstStream *stream = gst_message_streams_selected_get_stream(message, i);
    types.push_back(gst_stream_type_get_name(gst_stream_get_stream_type(stream)));
    gst_object_unref(stream);
  }
  return types;
}

TEST_F(ConsumerTest, Playbin3WithTheSoundDeselectedPlaysThePictureOnly) {
  // Playing in real time, the application deselects the sound at once: decodebin3 selects the
  // picture alone, the sound stops long before the end, the picture plays to the end. (Done while
  // decodebin3 still sets its streams up, the switch trips races in GStreamer 1.22's decodebin3
  // with any source, the file's included; in PAUSED it waits for the prerolled sound sink.)
  for (int served = 0; served < 2; ++served) {
    SCOPED_TRACE(served ? "served" : "file");
    auto run = playbin_run("playbin3", served ? served_uri("av") : file_uri("av"));
    for (const char *sink_property : {"video-sink", "audio-sink"}) {
      GstElement *sink = nullptr;
      g_object_get(run->pipeline(), sink_property, &sink, nullptr);
      g_object_set(sink, "sync", TRUE, nullptr);
      gst_object_unref(sink);
    }
    ConsumerRun *consumer = run.get();
    std::vector<std::string> video_ids;
    run->on_collection = [&video_ids](GstStreamCollection *collection) {
      video_ids.clear();
      for (guint i = 0; i < gst_stream_collection_get_size(collection); ++i) {
        GstStream *stream = gst_stream_collection_get_stream(collection, i);
        if (gst_stream_get_stream_type(stream) & GST_STREAM_TYPE_VIDEO)
          video_ids.push_back(gst_stream_get_stream_id(stream));
      }
    };
    run->after_preroll = [consumer, &video_ids](RunResult *result) {
      EXPECT_EQ(video_ids.size(), 1u);
      GList *ids = nullptr;
      for (const auto &id : video_ids) ids = g_list_append(ids, const_cast<char *>(id.c_str()));
      if (!ids) return false;
      gst_element_set_state(consumer->pipeline(), GST_STATE_PLAYING);
      const bool sent =
          gst_element_send_event(consumer->pipeline(), gst_event_new_select_streams(ids));
      g_list_free(ids);
      EXPECT_TRUE(sent);
      const bool switched = consumer->pump_until(result, [](GstMessage *message) {
        return GST_MESSAGE_TYPE(message) == GST_MESSAGE_STREAMS_SELECTED &&
               selected_types(message) == std::vector<std::string>{"video"};
      });
      EXPECT_TRUE(switched) << "decodebin3 never selected the picture alone";
      return switched;
    };
    RunResult result = run->run();
    if (!served && result.timed_out && !result.prerolled) {
      // decodebin3's own stall on a local file (see file_baseline): no reference this time.
      ::testing::Test::RecordProperty("file_reference", "decodebin3 stalled");
      continue;
    }
    EXPECT_EQ(result.errors, 0) << describe(result);
    EXPECT_TRUE(result.eos) << describe(result);
    EXPECT_EQ(result.video.buffers, kClipFrames) << describe(result);
    EXPECT_LT(result.audio.end, GST_SECOND) << describe(result);
  }
}

TEST_F(ConsumerTest, SeekRightAfterPrerollWaitsForTheBytesWhileTheClipDownloads) {
  // A slow download: the clip arrives over seconds, the seek to its last half comes at once.
  for (const char *factory : {"playbin", "playbin3"}) {
    const SeekPlan seek{GST_SEEK_FLAG_ACCURATE, 3 * GST_SECOND / 2, GST_CLOCK_TIME_NONE};
    RunResult file = file_baseline(
        [&](double timeout_s) { return playbin_run(factory, file_uri("av"), timeout_s); },
        [&](double timeout_s) { return playbin_run("playbin", file_uri("av"), timeout_s); }, seek);
    server_->add_faults(R"([{"match":"download","path":"/files/av.mp4","rate":8000}])");
    auto run = playbin_run(factory, served_uri("av"));
    const int before = downloads_finished("av");
    run->still_downloading = [before] { return downloads_finished("av") == before; };
    RunResult served = run->run(seek);
    expect_same_play(served, file, factory);
    EXPECT_TRUE(served.seek_during_download) << factory;
    EXPECT_EQ(served.video.buffers, kFps / 2) << factory;
    EXPECT_TRUE(served.eos) << factory;
  }
}

// ---- the transcoder
// ------------------------------------------------------------------------------

// What libav finds in an MP4: its pictures (luma planes) and their timestamps.
struct Mp4Pictures {
  std::vector<std::vector<uint8_t>> luma;
  std::vector<int64_t> pts_ns;
  int width = 0, height = 0;
  int64_t audio_samples = 0;
};

Mp4Pictures read_mp4(const std::string &path) {
  auto file = std::make_shared<see2ai::GrowingFile>(path);
  file->finish();
  see2ai::ClipDecoder decoder(file, 1);
  Mp4Pictures pictures;
  while (auto frame = decoder.next()) {
    if (frame->kind == see2ai::StreamKind::Audio) {
      pictures.audio_samples += frame->frame->nb_samples;
      continue;
    }
    const AVFrame *f = frame->frame;
    pictures.width = f->width;
    pictures.height = f->height;
    std::vector<uint8_t> luma(static_cast<size_t>(f->width) * static_cast<size_t>(f->height));
    for (int y = 0; y < f->height; ++y)
      std::copy_n(f->data[0] + static_cast<ptrdiff_t>(y) * f->linesize[0], f->width,
                  luma.begin() + static_cast<ptrdiff_t>(y) * f->width);
    pictures.luma.push_back(std::move(luma));
    pictures.pts_ns.push_back(frame->pts_ns);
  }
  return pictures;
}

// Mean luma difference below which two pictures are the same one (encoded the same way, they are
// identical; consecutive pictures of the test clips differ by 0.5 and more).
constexpr double kSamePicture = 0.25;

double mean_difference(const std::vector<uint8_t> &a, const std::vector<uint8_t> &b) {
  if (a.size() != b.size() || a.empty()) return 255;
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::abs(static_cast<int>(a[i]) - b[i]);
  return sum / static_cast<double>(a.size());
}

GstEncodingProfile *mp4_profile() {
  GstCaps *container = gst_caps_from_string("video/quicktime,variant=iso");
  GstCaps *video = gst_caps_from_string("video/x-h264");
  GstCaps *audio = gst_caps_from_string("audio/mpeg,mpegversion=4");
  GstEncodingContainerProfile *profile =
      gst_encoding_container_profile_new("mp4", nullptr, container, nullptr);
  gst_encoding_container_profile_add_profile(
      profile, GST_ENCODING_PROFILE(gst_encoding_video_profile_new(video, nullptr, nullptr, 0)));
  gst_encoding_container_profile_add_profile(
      profile, GST_ENCODING_PROFILE(gst_encoding_audio_profile_new(audio, nullptr, nullptr, 0)));
  gst_caps_unref(container);
  gst_caps_unref(video);
  gst_caps_unref(audio);
  return GST_ENCODING_PROFILE(profile);
}

std::string temp_file(const char *name) {
  return make_temp_dir("consumers") + "/" + name;
}

std::string uri_of(const std::string &path) {
  gchar *uri = gst_filename_to_uri(path.c_str(), nullptr);
  std::string text = uri;
  g_free(uri);
  return text;
}

TEST_F(ConsumerTest, TranscoderWritesTheSameMp4AsFromTheFile) {
  Mp4Pictures outputs[2];
  for (int served = 0; served < 2; ++served) {
    const std::string out = temp_file("transcoded.mp4");
    GstTranscoder *transcoder = gst_transcoder_new_full(
        (served ? served_uri("av") : file_uri("av")).c_str(), uri_of(out).c_str(), mp4_profile());
    GError *error = nullptr;
    const gboolean ok = gst_transcoder_run(transcoder, &error);
    const std::string message = error ? error->message : "";
    g_clear_error(&error);
    gst_object_unref(transcoder);
    ASSERT_TRUE(ok) << (served ? "served: " : "file: ") << message;
    outputs[served] = read_mp4(out);
  }
  EXPECT_EQ(outputs[1].luma.size(), static_cast<size_t>(kClipFrames));
  EXPECT_EQ(outputs[1].luma.size(), outputs[0].luma.size());
  EXPECT_EQ(outputs[1].pts_ns, outputs[0].pts_ns);
  EXPECT_NEAR(static_cast<double>(outputs[1].audio_samples),
              static_cast<double>(outputs[0].audio_samples), 1024);
  ASSERT_FALSE(outputs[1].luma.empty());
  EXPECT_LT(mean_difference(outputs[1].luma.front(), outputs[0].luma.front()), kSamePicture);
  EXPECT_LT(mean_difference(outputs[1].luma.back(), outputs[0].luma.back()), kSamePicture);
}

// ---- GES --------------------------------------------------------------------------------------

// Two clips, each trimmed: the first from 0.5 s, the second from 0.25 s, one second of each.
constexpr GstClockTime kClipLength = GST_SECOND;
constexpr GstClockTime kInpoints[2] = {GST_SECOND / 2, GST_SECOND / 4};

GESTimeline *two_clip_timeline(const std::string &first_uri, const std::string &second_uri) {
  GESTimeline *timeline = ges_timeline_new_audio_video();
  GList *tracks = ges_timeline_get_tracks(timeline);
  for (GList *t = tracks; t; t = t->next) {
    if (!GES_IS_VIDEO_TRACK(t->data)) continue;
    GstCaps *caps = gst_caps_from_string("video/x-raw,width=320,height=180,framerate=24/1");
    ges_track_set_restriction_caps(GES_TRACK(t->data), caps);
    gst_caps_unref(caps);
  }
  g_list_free_full(tracks, gst_object_unref);
  GESLayer *layer = ges_timeline_append_layer(timeline);
  const std::string uris[2] = {first_uri, second_uri};
  for (int i = 0; i < 2; ++i) {
    GError *error = nullptr;
    GESUriClipAsset *asset = ges_uri_clip_asset_request_sync(uris[i].c_str(), &error);
    EXPECT_NE(asset, nullptr) << uris[i] << ": " << (error ? error->message : "");
    g_clear_error(&error);
    if (!asset) continue;
    GESClip *clip = ges_layer_add_asset(layer, GES_ASSET(asset), i * kClipLength, kInpoints[i],
                                        kClipLength, GES_TRACK_TYPE_UNKNOWN);
    EXPECT_NE(clip, nullptr);
    gst_object_unref(asset);
  }
  return timeline;
}

TEST_F(ConsumerTest, GesRendersTwoTrimmedClipsAsFromTheFiles) {
  Mp4Pictures outputs[2];
  for (int served = 0; served < 2; ++served) {
    // Served slowly (discovery, then the render): nlecomposition seeks each clip to its in-point
    // as soon as it prerolls, while the clip still downloads.
    if (served)
      server_->add_faults(
          R"([{"match":"download","path":"/files/av.mp4","rate":20000,"times":2}])");
    GESTimeline *timeline = served ? two_clip_timeline(served_uri("av"), served_uri("moov-last"))
                                   : two_clip_timeline(file_uri("av"), file_uri("moov-last"));
    EXPECT_EQ(ges_timeline_get_duration(timeline), 2 * kClipLength);
    const std::string out = temp_file("rendered.mp4");
    GESPipeline *pipeline = ges_pipeline_new();
    ASSERT_TRUE(ges_pipeline_set_timeline(pipeline, timeline));
    GstEncodingProfile *profile = mp4_profile();
    ASSERT_TRUE(ges_pipeline_set_render_settings(pipeline, uri_of(out).c_str(), profile));
    gst_encoding_profile_unref(profile);
    ASSERT_TRUE(ges_pipeline_set_mode(pipeline, GES_PIPELINE_MODE_RENDER));
    ConsumerRun run(GST_ELEMENT(pipeline));
    RunResult result = run.run();
    ASSERT_EQ(result.errors, 0) << (served ? "served: " : "file: ") << result.error_text;
    ASSERT_TRUE(result.eos) << describe(result);
    outputs[served] = read_mp4(out);
  }
  const Mp4Pictures &file = outputs[0], &rendered = outputs[1];
  ASSERT_EQ(rendered.luma.size(), file.luma.size());
  EXPECT_EQ(rendered.luma.size(), 2u * kFps);
  EXPECT_EQ(rendered.pts_ns, file.pts_ns);
  EXPECT_EQ(rendered.width, 320);
  EXPECT_EQ(rendered.height, 180);
  // The first and last picture of each trimmed clip are the file's.
  for (size_t index : {size_t{0}, size_t{kFps - 1}, size_t{kFps}, size_t{2 * kFps - 1}}) {
    ASSERT_LT(index, rendered.luma.size());
    EXPECT_LT(mean_difference(rendered.luma[index], file.luma[index]), kSamePicture)
        << "picture " << index;
  }
  // They differ from their neighbours, so a picture too early or too late would show.
  EXPECT_GT(mean_difference(file.luma[kFps - 1], file.luma[kFps - 2]), kSamePicture);
  EXPECT_GT(mean_difference(file.luma[kFps], file.luma[kFps + 1]), kSamePicture);
}

TEST_F(ConsumerTest, GesPreviewPlaysTheTimelineToEos) {
  RunResult results[2];
  for (int served = 0; served < 2; ++served) {
    GESTimeline *timeline =
        served ? two_clip_timeline(served_uri("portrait"), served_uri("video-only"))
               : two_clip_timeline(file_uri("portrait"), file_uri("video-only"));
    GESPipeline *pipeline = ges_pipeline_new();
    ASSERT_TRUE(ges_pipeline_set_timeline(pipeline, timeline));
    ConsumerRun run(GST_ELEMENT(pipeline));
    ges_pipeline_preview_set_video_sink(pipeline, counting_sink(&run.recorder));
    ges_pipeline_preview_set_audio_sink(pipeline, counting_sink(&run.recorder));
    results[served] = run.run();
  }
  expect_same_play(results[1], results[0], "GES preview");
  EXPECT_TRUE(results[1].eos);
  EXPECT_EQ(results[1].video.buffers, 2 * kFps);
}

// ---- command-line tools
// --------------------------------------------------------------------------

struct ToolRun {
  bool ok = false;
  std::string out;
};

// Runs a GStreamer tool with the dev server in its environment, bounded in time.
ToolRun run_tool(const std::vector<std::string> &args) {
  std::vector<std::string> argv = {"timeout", "-s", "KILL", "120"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<gchar *> cargv;
  for (auto &arg : argv) cargv.push_back(const_cast<gchar *>(arg.c_str()));
  cargv.push_back(nullptr);
  gchar *out = nullptr, *err = nullptr;
  gint status = -1;
  ToolRun run;
  // A cache of its own: what it generates is really submitted, not found from an earlier run.
  gchar **env = g_environ_setenv(g_get_environ(), "XDG_CACHE_HOME",
                                 make_temp_dir("tool-cache").c_str(), TRUE);
  GError *error = nullptr;
  const gboolean spawned = g_spawn_sync(nullptr, cargv.data(), env, G_SPAWN_SEARCH_PATH, nullptr,
                                        nullptr, &out, &err, &status, &error);
  g_strfreev(env);
  if (!spawned) {
    run.out = error->message;
    g_error_free(error);
    return run;
  }
  run.ok = g_spawn_check_wait_status(status, nullptr);
  run.out = std::string("stdout:\n") + (out ? out : "") + "\nstderr:\n" + (err ? err : "");
  g_free(out);
  g_free(err);
  return run;
}

TEST_F(ConsumerTest, GesLaunchRendersServedClipsWrittenAsTheyAre) {
  // The path form of a generate URI survives ges-launch-1.0's command line (which keeps nothing
  // after a '?'); the task form works as it is.
  const std::string out = temp_file("ges-launch.mp4");
  // Submits of this prompt so far (earlier repeats of this test).
  const auto submits_of_prompt = [] {
    int submits = 0;
    for (const auto &line : server_->request_log())
      if (line.find("\"event\":\"submit\"") != std::string::npos &&
          line.find("a fox, at dusk?") != std::string::npos)
        ++submits;
    return submits;
  };
  const int submits_before = submits_of_prompt();
  ToolRun run =
      run_tool({"ges-launch-1.0", "--track-types=video", "-o", uri_of(out), "-f",
                "video/quicktime,variant=iso:video/x-h264", "+clip",
                "see2ai://generate/prompt=a%20fox,%20at%20dusk%3F/duration=4/resolution=480p",
                "duration=1.0", "+clip", served_uri("portrait"), "inpoint=0.5", "duration=1.0"});
  ASSERT_TRUE(run.ok) << run.out;
  // Two seconds at ges-launch-1.0's own frame rate (30 fps: its video track's default).
  Mp4Pictures rendered = read_mp4(out);
  EXPECT_EQ(rendered.luma.size(), 60u) << run.out;
  ASSERT_FALSE(rendered.pts_ns.empty());
  EXPECT_NEAR(static_cast<double>(rendered.pts_ns.back()), 2e9 - 1e9 / 30, 1e6);
  const int prompt_seen = submits_of_prompt();
  EXPECT_GE(prompt_seen, submits_before + 1) << "the prompt did not reach the service whole";
}

TEST_F(ConsumerTest, GstTranscoderToolTranscodesAServedClip) {
  const std::string out = temp_file("gst-transcoder.mp4");
  ToolRun run = run_tool({"gst-transcoder-1.0", served_uri("fragmented"), uri_of(out),
                          "video/quicktime,variant=iso:video/x-h264:audio/mpeg,mpegversion=4"});
  ASSERT_TRUE(run.ok) << run.out;
  Mp4Pictures transcoded = read_mp4(out);
  EXPECT_EQ(transcoded.luma.size(), static_cast<size_t>(kClipFrames)) << run.out;
  EXPECT_EQ(transcoded.width, 320);
  EXPECT_NEAR(static_cast<double>(transcoded.audio_samples), kClipSeconds * 48000, 1024);
}

}  // namespace
