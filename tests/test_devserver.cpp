// Contract tests of see2ai-devserver: the real binary (and DevServer in-process) over real HTTP on
// loopback, with the rendered MP4s opened by libav.
#include <glib/gstdio.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "clip_renderer.h"
#include "dev_server.h"
#include "devserver_process.h"
#include "generation_request.h"
#include "task_output.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

namespace see2ai::dev {
namespace {

using test::DevServerArgs;
using test::DevServerProcess;

constexpr char kKey[] = "test-key-0123456789";
constexpr char kSubmitPath[] = "/api/v1/actions/see2ai_video_generation_v1";

// ---- HTTP on loopback -------------------------------------------------------------------------

struct Reply {
  int status = 0;  // 0: no HTTP answer (transport error)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
};

struct Request {
  std::string method = "GET";
  std::string url;
  std::string body;
  std::string key;
  std::vector<std::pair<std::string, std::string>> headers;
  int timeout_s = 30;
};

void collect_header(const char *name, const char *value, gpointer data) {
  gchar *lower = g_ascii_strdown(name, -1);
  (*static_cast<std::map<std::string, std::string> *>(data))[lower] = value;
  g_free(lower);
}

Reply fetch(const Request &request) {
  SoupSession *session = soup_session_new_with_options("timeout", request.timeout_s, nullptr);
  SoupMessage *message = soup_message_new(request.method.c_str(), request.url.c_str());
  if (!message) throw std::runtime_error("bad URL " + request.url);
  if (request.method == "POST") {
    GBytes *payload = g_bytes_new(request.body.data(), request.body.size());
    soup_message_set_request_body_from_bytes(message, "application/json", payload);
    g_bytes_unref(payload);
  }
  SoupMessageHeaders *headers = soup_message_get_request_headers(message);
  if (!request.key.empty())
    soup_message_headers_replace(headers, "Authorization", ("Bearer " + request.key).c_str());
  for (const auto &[name, value] : request.headers)
    soup_message_headers_replace(headers, name.c_str(), value.c_str());
  GError *error = nullptr;
  GBytes *bytes = soup_session_send_and_read(session, message, nullptr, &error);
  Reply reply;
  if (error) {
    reply.error = error->message;
    g_error_free(error);
  } else {
    reply.status = static_cast<int>(soup_message_get_status(message));
    soup_message_headers_foreach(soup_message_get_response_headers(message), collect_header,
                                 &reply.headers);
  }
  if (bytes) {
    gsize size = 0;
    const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &size));
    reply.body.assign(data ? data : "", size);
    g_bytes_unref(bytes);
  }
  g_object_unref(message);
  g_object_unref(session);
  return reply;
}

Reply get(const std::string &url, const std::string &key = {},
          std::vector<std::pair<std::string, std::string>> headers = {}) {
  Request request;
  request.url = url;
  request.key = key;
  request.headers = std::move(headers);
  return fetch(request);
}

Reply submit(const std::string &base_url, const std::string &json, const std::string &key = kKey) {
  Request request;
  request.method = "POST";
  request.url = base_url + kSubmitPath;
  request.body = json;
  request.key = key;
  return fetch(request);
}

Reply status_of(const std::string &base_url, const std::string &task_id,
                const std::string &key = kKey) {
  return get(base_url + "/api/v1/status/" + task_id, key);
}

// ---- JSON -------------------------------------------------------------------------------------

// Runs `read` on the parsed root object; fails the test when the text is not a JSON object.
void with_object(const std::string &text, const std::function<void(JsonObject *)> &read) {
  JsonParser *parser = json_parser_new();
  bool parsed = json_parser_load_from_data(parser, text.c_str(), -1, nullptr) &&
                JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser));
  EXPECT_TRUE(parsed) << text.substr(0, 300);
  if (parsed) read(json_node_get_object(json_parser_get_root(parser)));
  g_object_unref(parser);
}

std::string string_member(const std::string &text, const char *name) {
  std::string value;
  with_object(text, [&](JsonObject *object) {
    if (json_object_has_member(object, name) &&
        JSON_NODE_HOLDS_VALUE(json_object_get_member(object, name)))
      value = json_object_get_string_member(object, name);
  });
  return value;
}

struct Account {
  int64_t balance = 0;
  int64_t reserved = 0;
};

std::vector<Account> tenants(const std::string &base_url) {
  Reply reply = get(base_url + "/_dev/tenants");
  EXPECT_EQ(reply.status, 200);
  std::vector<Account> accounts;
  JsonParser *parser = json_parser_new();
  if (json_parser_load_from_data(parser, reply.body.c_str(), -1, nullptr) &&
      JSON_NODE_HOLDS_ARRAY(json_parser_get_root(parser))) {
    JsonArray *array = json_node_get_array(json_parser_get_root(parser));
    for (guint i = 0; i < json_array_get_length(array); ++i) {
      JsonObject *object = json_array_get_object_element(array, i);
      accounts.push_back({json_object_get_int_member(object, "balance"),
                          json_object_get_int_member(object, "reserved")});
    }
  }
  g_object_unref(parser);
  return accounts;
}

// ---- waiting ----------------------------------------------------------------------------------

// Polls until `done` holds; false when 30 s pass first (a hung server fails the test, not CI).
bool wait_until(const std::function<bool()> &done) {
  int64_t deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < deadline) {
    if (done()) return true;
    g_usleep(10 * 1000);
  }
  return false;
}

// Polls the status endpoint until the task ends; every state seen, in order, without repeats.
std::vector<std::string> follow(const std::string &base_url, const std::string &task_id,
                                TaskOutput *final_output) {
  std::vector<std::string> states;
  bool ended = wait_until([&] {
    Reply reply = status_of(base_url, task_id);
    if (reply.status != 200) return false;
    TaskOutput output = parse_task_output(reply.body);
    if (states.empty() || states.back() != output.state_text) states.push_back(output.state_text);
    if (!is_terminal(output.state)) return false;
    *final_output = output;
    return true;
  });
  EXPECT_TRUE(ended) << "task " << task_id << " never ended";
  return states;
}

bool log_has(DevServerProcess &server, const std::string &needle) {
  for (const auto &line : server.request_log())
    if (line.find(needle) != std::string::npos) return true;
  return false;
}

// ---- media ------------------------------------------------------------------------------------

struct ClipFacts {
  double duration_s = 0;
  int width = 0;
  int height = 0;
  std::string video_codec;
  bool has_audio = false;
  int sample_rate = 0;
  int channels = 0;
  std::vector<uint8_t> first_rgb;  // RGB24 of the first and last decoded pictures
  std::vector<uint8_t> last_rgb;
};

std::vector<uint8_t> to_rgb(const AVFrame &frame) {
  SwsContext *scaler = sws_getContext(
      frame.width, frame.height, static_cast<AVPixelFormat>(frame.format), frame.width,
      frame.height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr);
  std::vector<uint8_t> rgb(static_cast<size_t>(frame.width) * frame.height * 3);
  uint8_t *planes[4] = {rgb.data(), nullptr, nullptr, nullptr};
  int strides[4] = {frame.width * 3, 0, 0, 0};
  sws_scale(scaler, frame.data, frame.linesize, 0, frame.height, planes, strides);
  sws_freeContext(scaler);
  return rgb;
}

ClipFacts inspect_clip(const std::string &path) {
  ClipFacts facts;
  AVFormatContext *input = nullptr;
  if (avformat_open_input(&input, path.c_str(), nullptr, nullptr) < 0)
    throw std::runtime_error("libavformat cannot open " + path);
  avformat_find_stream_info(input, nullptr);
  facts.duration_s = static_cast<double>(input->duration) / AV_TIME_BASE;
  int video = av_find_best_stream(input, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  int audio = av_find_best_stream(input, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (audio >= 0) {
    facts.has_audio = true;
    facts.sample_rate = input->streams[audio]->codecpar->sample_rate;
    facts.channels = input->streams[audio]->codecpar->ch_layout.nb_channels;
  }
  if (video < 0) {
    avformat_close_input(&input);
    return facts;
  }
  const AVCodecParameters *params = input->streams[video]->codecpar;
  facts.width = params->width;
  facts.height = params->height;
  facts.video_codec = avcodec_get_name(params->codec_id);
  const AVCodec *codec = avcodec_find_decoder(params->codec_id);
  AVCodecContext *decoder = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(decoder, params);
  avcodec_open2(decoder, codec, nullptr);
  AVPacket *packet = av_packet_alloc();
  AVFrame *frame = av_frame_alloc();
  auto drain = [&] {
    while (avcodec_receive_frame(decoder, frame) == 0) {
      facts.last_rgb = to_rgb(*frame);
      if (facts.first_rgb.empty()) facts.first_rgb = facts.last_rgb;
    }
  };
  while (av_read_frame(input, packet) >= 0) {
    if (packet->stream_index == video && avcodec_send_packet(decoder, packet) == 0) drain();
    av_packet_unref(packet);
  }
  avcodec_send_packet(decoder, nullptr);
  drain();
  av_frame_free(&frame);
  av_packet_free(&packet);
  avcodec_free_context(&decoder);
  avformat_close_input(&input);
  return facts;
}

// The colour at the centre of an RGB24 picture.
std::vector<int> centre_colour(const std::vector<uint8_t> &rgb, int width, int height) {
  size_t at = (static_cast<size_t>(height / 2) * width + width / 2) * 3;
  if (rgb.size() < at + 3) return {};
  return {rgb[at], rgb[at + 1], rgb[at + 2]};
}

std::string read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::string file_name_of(const std::string &url) {
  return url.substr(url.rfind('/') + 1);
}

// A finished clip: submits synchronously and returns the output object.
TaskOutput render(const std::string &base_url, const std::string &json) {
  Reply reply = submit(base_url, json);
  EXPECT_EQ(reply.status, 200) << reply.body;
  return parse_task_output(reply.body);
}

class DevServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { av_log_set_level(AV_LOG_ERROR); }
};

// ---- submit: fields, 400, 401, 402 ------------------------------------------------------------

TEST_F(DevServerTest, AcceptsEveryContractField) {
  DevServerProcess server;
  write_file(server.output_dir() + "/first.png", encode_png(solid_image(640, 360, 255, 0, 0)));
  write_file(server.output_dir() + "/last.png", encode_png(solid_image(640, 360, 0, 0, 255)));
  const std::string files = server.url() + "/files/";
  std::string json =
      "{\"model_name\":\"doubao-seedance-2-0-fast-260128\",\"prompt\":\"a red fox\","
      "\"non_face_image_url\":\"http://example.com/a.png\","
      "\"non_face_image_urls\":[\"http://example.com/b.png\",\"https://example.com/c.png\"],"
      "\"face_image_url\":\"https://example.com/face.png\","
      "\"video_url\":\"http://example.com/v.mp4\",\"video_urls\":[\"http://example.com/w.mp4\"],"
      "\"audio_url\":\"http://example.com/a.mp3\",\"audio_urls\":[\"http://example.com/b.mp3\"],"
      "\"first_frame_url\":\"" +
      files + "first.png\",\"last_frame_url\":\"" + files +
      "last.png\",\"duration\":4,\"resolution\":\"480p\",\"aspect_ratio\":\"adaptive\","
      "\"watermark\":true,\"generate_audio\":false,\"enable_web_search\":true,"
      "\"force_asset_upload\":true,\"sync\":false}";
  Reply reply = submit(server.url(), json);
  ASSERT_EQ(reply.status, 200) << reply.body;
  TaskOutput queued = parse_task_output(reply.body);
  EXPECT_EQ(queued.state, TaskState::Queued);
  EXPECT_EQ(queued.task_id.rfind("task-", 0), 0u);
  EXPECT_EQ(queued.task_id.size(), 5u + 16u);
  EXPECT_EQ(queued.model, "doubao-seedance-2-0-fast-260128");
  EXPECT_EQ(queued.source, "see2ai-devserver");
  EXPECT_EQ(queued.provider_config_id, 1);
  ASSERT_FALSE(queued.warnings.empty());
  EXPECT_NE(queued.warnings[0].find("force_asset_upload"), std::string::npos);

  TaskOutput done;
  follow(server.url(), queued.task_id, &done);
  ASSERT_EQ(done.state, TaskState::Succeeded) << done.error_message.value_or("");
  // 10 references x 10 + "a red fox" (9 bytes) / 4; fast 480p without audio: 800 per second.
  EXPECT_EQ(done.input_tokens, 10 * 10 + 2);
  EXPECT_EQ(done.output_tokens, 800 * 4);
  EXPECT_EQ(done.total_tokens, done.input_tokens + done.output_tokens);
  EXPECT_EQ(done.cost_points, done.total_tokens);
  ASSERT_TRUE(done.cost_time.has_value());
  EXPECT_GE(*done.cost_time, 300);
  ASSERT_EQ(done.result_urls.size(), 1u);
  EXPECT_EQ(done.result_urls[0], server.url() + "/files/" + done.task_id + ".mp4");

  ClipFacts clip = inspect_clip(server.output_dir() + "/" + done.task_id + ".mp4");
  EXPECT_EQ(clip.width, 854);  // adaptive follows the 16:9 first frame
  EXPECT_EQ(clip.height, 480);
  EXPECT_FALSE(clip.has_audio);
}

struct BadRequest {
  const char *name;
  std::string json;
  const char *field;
};

TEST_F(DevServerTest, RejectsEachBadFieldWith400NamingIt) {
  DevServerProcess server;
  const std::vector<BadRequest> cases = {
      {"unknown model", R"({"prompt":"p","model_name":"sora-9"})", "model_name"},
      {"duration 3", R"({"prompt":"p","duration":3})", "duration"},
      {"duration 16", R"({"prompt":"p","duration":16})", "duration"},
      {"resolution 1080p", R"({"prompt":"p","resolution":"1080p"})", "resolution"},
      {"aspect 5:4", R"({"prompt":"p","aspect_ratio":"5:4"})", "aspect_ratio"},
      {"4 videos",
       R"({"prompt":"p","video_url":"http://h/a.mp4","video_urls":["http://h/b.mp4","http://h/c.mp4","http://h/d.mp4"]})",
       "video_urls"},
      {"4 audios",
       R"({"prompt":"p","audio_url":"http://h/a.mp3","audio_urls":["http://h/b.mp3","http://h/c.mp3","http://h/d.mp3"]})",
       "audio_urls"},
      {"ftp URL", R"({"prompt":"p","non_face_image_url":"ftp://h/a.png"})", "non_face_image_url"},
      {"nothing to generate from", R"({"duration":5})", "prompt"},
      {"unreachable first frame", R"({"prompt":"p","first_frame_url":"http://127.0.0.1:1/a.png"})",
       "first_frame_url"},
      {"first frame not an image",
       R"({"prompt":"p","first_frame_url":")" + server.url() + R"(/_dev/tenants"})",
       "first_frame_url"},
      {"duration of the wrong type", R"({"prompt":"p","duration":"five"})", "duration"},
      {"null model (its schema has no null)", R"({"prompt":"p","model_name":null})", "model_name"},
      {"null sync (its schema has no null)", R"({"prompt":"p","sync":null})", "sync"},
  };
  for (const auto &bad : cases) {
    SCOPED_TRACE(bad.name);
    Reply reply = submit(server.url(), bad.json);
    EXPECT_EQ(reply.status, 400) << reply.body;
    EXPECT_EQ(string_member(reply.body, "field"), bad.field);
    EXPECT_NE(string_member(reply.body, "detail").find(bad.field), std::string::npos) << reply.body;
  }
  auto accounts = tenants(server.url());
  ASSERT_EQ(accounts.size(), 1u);
  EXPECT_EQ(accounts[0].balance, 100000000);  // nothing charged
  EXPECT_EQ(accounts[0].reserved, 0);         // nothing left reserved by a failed fetch
}

TEST_F(DevServerTest, HostileBodiesAre400AndTheServerLivesOn) {
  DevServerProcess server;
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::vector<std::string> bodies = {"",
                                           "null",
                                           "[]",
                                           "{",
                                           deep,
                                           R"({"prompt":)" + deep + "}",
                                           R"({"prompt":"p","duration":1e400})",
                                           R"({"prompt":"p","video_urls":[1,2]})",
                                           std::string("{\"prompt\":\"\xff\xfe\"}")};
  for (const auto &body : bodies) {
    Reply reply = submit(server.url(), body);
    EXPECT_EQ(reply.status, 400) << body.substr(0, 40);
    EXPECT_FALSE(string_member(reply.body, "field").empty()) << reply.body;
  }
  std::string answer;
  EXPECT_EQ(server.post_json("/_dev/faults", deep, "", &answer), 400);
  EXPECT_EQ(get(server.url() + "/_dev/tenants").status, 200);
  EXPECT_EQ(tenants(server.url())[0].reserved, 0);
}

TEST_F(DevServerTest, MissingOrUnknownKeyIs401WithoutEchoingIt) {
  DevServerProcess server;
  Reply missing = submit(server.url(), R"({"prompt":"p"})", "");
  EXPECT_EQ(missing.status, 401);
  EXPECT_FALSE(string_member(missing.body, "detail").empty());
  const std::string wrong = "wrong-key-must-not-echo-42";
  Reply unknown = submit(server.url(), R"({"prompt":"p"})", wrong);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(unknown.body.find(wrong), std::string::npos);
  EXPECT_EQ(status_of(server.url(), "task-0000000000000000", wrong).status, 401);
}

TEST_F(DevServerTest, BalanceTooLowIs402AndNothingIsReserved) {
  DevServerArgs args;
  args.keys = {std::string(kKey) + ":5000"};
  DevServerProcess server(args);
  // 480p standard with audio: 1100 tokens per second; 5 s = 5500 > 5000.
  Reply reply = submit(server.url(), R"({"prompt":"abcd","resolution":"480p","sync":false})");
  EXPECT_EQ(reply.status, 402) << reply.body;
  EXPECT_NE(string_member(reply.body, "detail").find("balance"), std::string::npos);
  // 4 s = 4400 + 1 fits.
  Reply fits =
      submit(server.url(), R"({"prompt":"abcd","resolution":"480p","duration":4,"sync":false})");
  EXPECT_EQ(fits.status, 200) << fits.body;
  // The reservation counts: a second one no longer fits.
  Reply second =
      submit(server.url(), R"({"prompt":"abcd","resolution":"480p","duration":4,"sync":false})");
  EXPECT_EQ(second.status, 402) << second.body;
}

// ---- sync, async, status ----------------------------------------------------------------------

TEST_F(DevServerTest, SyncIsTheDefaultAndHoldsUntilTheTaskEnds) {
  DevServerProcess server;
  int64_t started = g_get_monotonic_time();
  Reply reply =
      submit(server.url(), R"({"prompt":"sync by default","duration":4,"resolution":"480p"})");
  int64_t waited_ms = (g_get_monotonic_time() - started) / 1000;
  ASSERT_EQ(reply.status, 200) << reply.body;
  TaskOutput output = parse_task_output(reply.body);
  EXPECT_EQ(output.state, TaskState::Succeeded);
  EXPECT_GE(waited_ms, 300);  // held for the configured latency, not answered at once
  ASSERT_EQ(output.result_urls.size(), 1u);
  Reply file = get(output.result_urls[0]);
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(file.headers["content-type"], "video/mp4");
}

TEST_F(DevServerTest, AsyncStatusMovesQueuedRunningSucceededInOrder) {
  DevServerArgs args;
  // Running lasts from a fifth of the latency to its end: 1.2 s, so that a poll lands in it even
  // when a loaded machine delays one by several hundred milliseconds.
  args.latency_ms = 1500;
  DevServerProcess server(args);
  Reply reply = submit(server.url(),
                       R"({"prompt":"progression","duration":4,"resolution":"480p","sync":false})");
  ASSERT_EQ(reply.status, 200);
  TaskOutput queued = parse_task_output(reply.body);
  EXPECT_EQ(queued.state, TaskState::Queued);
  EXPECT_TRUE(queued.result_urls.empty());
  EXPECT_FALSE(queued.cost_points.has_value());
  TaskOutput done;
  std::vector<std::string> states = follow(server.url(), queued.task_id, &done);
  ASSERT_FALSE(states.empty());
  if (states.front() == "queued") states.erase(states.begin());
  EXPECT_EQ(states, (std::vector<std::string>{"running", "succeeded"}));
  EXPECT_TRUE(g_file_test((server.output_dir() + "/" + queued.task_id + ".mp4").c_str(),
                          G_FILE_TEST_IS_REGULAR));
  // The log has the same story as state events, in order.
  std::vector<std::string> logged;
  for (const auto &line : server.request_log())
    if (line.find("\"event\":\"state\"") != std::string::npos &&
        line.find(queued.task_id) != std::string::npos)
      logged.push_back(string_member(line, "state"));
  EXPECT_EQ(logged, (std::vector<std::string>{"queued", "running", "succeeded"}));
}

TEST_F(DevServerTest, UnknownOrForeignTaskIs404) {
  DevServerArgs args;
  args.keys = {std::string(kKey) + ":100000000", "other-tenant-key:100000000"};
  DevServerProcess server(args);
  EXPECT_EQ(status_of(server.url(), "task-0123456789abcdef").status, 404);
  Reply reply =
      submit(server.url(), R"({"prompt":"mine","duration":4,"resolution":"480p","sync":false})");
  ASSERT_EQ(reply.status, 200);
  std::string id = parse_task_output(reply.body).task_id;
  EXPECT_EQ(status_of(server.url(), id).status, 200);
  EXPECT_EQ(status_of(server.url(), id, "other-tenant-key").status, 404);
}

// ---- the rendered clip ------------------------------------------------------------------------

TEST_F(DevServerTest, ClipHasRequestedDurationSizeAndAudio) {
  DevServerArgs args;
  args.latency_ms = 100;
  DevServerProcess server(args);
  struct Case {
    std::string json;
    int width, height;
    bool audio;
  };
  const std::vector<Case> cases = {
      {R"({"prompt":"a","duration":4,"resolution":"480p","aspect_ratio":"16:9"})", 854, 480, true},
      {R"({"prompt":"b","duration":5,"resolution":"720p","aspect_ratio":"9:16","generate_audio":false})",
       720, 1280, false},
      {R"({"prompt":"c","duration":4,"resolution":"480p","aspect_ratio":"1:1","generate_audio":false})",
       480, 480, false},
  };
  for (const auto &c : cases) {
    SCOPED_TRACE(c.json);
    GenerationRequest request = parse_request_json(c.json).request;
    TaskOutput output = render(server.url(), c.json);
    ClipFacts clip = inspect_clip(server.output_dir() + "/" + output.task_id + ".mp4");
    EXPECT_EQ(clip.video_codec, "h264");
    EXPECT_NEAR(clip.duration_s, request.duration, 0.1);
    EXPECT_EQ(clip.width, c.width);
    EXPECT_EQ(clip.height, c.height);
    EXPECT_EQ(clip.has_audio, c.audio);
    if (c.audio) {
      EXPECT_EQ(clip.sample_rate, 48000);
      EXPECT_EQ(clip.channels, 1);
    }
  }
}

TEST_F(DevServerTest, DurationMinusOnePicksFourToFifteenFromThePrompt) {
  DevServerArgs args;
  args.latency_ms = 100;
  DevServerProcess server(args);
  const std::string json =
      R"({"prompt":"let the model decide","duration":-1,"resolution":"480p","generate_audio":false})";
  TaskOutput output = render(server.url(), json);
  ClipFacts clip = inspect_clip(server.output_dir() + "/" + output.task_id + ".mp4");
  int seconds = static_cast<int>(clip.duration_s + 0.5);
  EXPECT_GE(seconds, 4);
  EXPECT_LE(seconds, 15);
  EXPECT_EQ(output.output_tokens, 1000 * seconds);  // 480p standard, no audio
  TaskOutput again = render(server.url(), json);
  EXPECT_EQ(again.output_tokens, output.output_tokens);  // same prompt, same pick
}

TEST_F(DevServerTest, FirstAndLastFrameImagesAreHonoured) {
  DevServerArgs args;
  args.latency_ms = 100;
  DevServerProcess server(args);
  write_file(server.output_dir() + "/red.png", encode_png(solid_image(480, 640, 255, 0, 0)));
  write_file(server.output_dir() + "/blue.png", encode_png(solid_image(480, 640, 0, 0, 255)));
  TaskOutput output =
      render(server.url(), R"({"prompt":"frames","duration":4,"resolution":"480p",)"
                           R"("first_frame_url":")" +
                               server.url() + R"(/files/red.png","last_frame_url":")" +
                               server.url() + R"(/files/blue.png"})");
  ClipFacts clip = inspect_clip(server.output_dir() + "/" + output.task_id + ".mp4");
  EXPECT_EQ(clip.width, 480);  // adaptive follows the 3:4 first frame
  EXPECT_EQ(clip.height, 640);
  std::vector<int> first = centre_colour(clip.first_rgb, clip.width, clip.height);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_GT(first[0], 200);
  EXPECT_LT(first[1], 60);
  EXPECT_LT(first[2], 60);
  std::vector<int> last = centre_colour(clip.last_rgb, clip.width, clip.height);
  ASSERT_EQ(last.size(), 3u);
  EXPECT_LT(last[0], 60);
  EXPECT_LT(last[1], 60);
  EXPECT_GT(last[2], 200);
}

TEST_F(DevServerTest, ReferenceImagesOutsideTheEnginesLimitsAre400NamingTheField) {
  DevServerProcess server;
  write_file(server.output_dir() + "/small.png", encode_png(solid_image(299, 400, 9, 9, 9)));
  write_file(server.output_dir() + "/wide.png", encode_png(solid_image(1300, 500, 9, 9, 9)));
  write_file(server.output_dir() + "/edge.png", encode_png(solid_image(300, 750, 9, 9, 9)));
  const std::string files = server.url() + "/files/";
  Reply small =
      submit(server.url(), R"({"prompt":"p","first_frame_url":")" + files + "small.png\"}");
  EXPECT_EQ(small.status, 400) << small.body;
  EXPECT_EQ(string_member(small.body, "field"), "first_frame_url");
  EXPECT_NE(string_member(small.body, "detail").find("299x400"), std::string::npos) << small.body;
  Reply wide = submit(server.url(), R"({"prompt":"p","last_frame_url":")" + files + "wide.png\"}");
  EXPECT_EQ(wide.status, 400) << wide.body;
  EXPECT_EQ(string_member(wide.body, "field"), "last_frame_url");
  // 300 px and an aspect of exactly 0.4 are inside.
  Reply edge = submit(server.url(),
                      R"({"prompt":"p","sync":false,"first_frame_url":")" + files + "edge.png\"}");
  EXPECT_EQ(edge.status, 200) << edge.body;
}

TEST_F(DevServerTest, ReferenceImageFetchIsBoundedInRedirectsAndSize) {
  DevServerProcess server;
  write_file(server.output_dir() + "/huge.png", std::vector<uint8_t>(21 * 1024 * 1024, 0));
  Reply too_big = submit(
      server.url(), R"({"prompt":"p","first_frame_url":")" + server.url() + R"(/files/huge.png"})");
  EXPECT_EQ(too_big.status, 400);
  EXPECT_EQ(string_member(too_big.body, "field"), "first_frame_url");
  EXPECT_NE(too_big.body.find("larger than"), std::string::npos) << too_big.body;
  g_remove((server.output_dir() + "/huge.png").c_str());

  server.add_faults(R"([{"match":"download","times":-1,"redirect_to":")" + server.url() +
                    R"(/files/loop.png"}])");
  Reply looping = submit(
      server.url(), R"({"prompt":"p","last_frame_url":")" + server.url() + R"(/files/loop.png"})");
  EXPECT_EQ(looping.status, 400);
  EXPECT_EQ(string_member(looping.body, "field"), "last_frame_url");
  EXPECT_NE(looping.body.find("redirects"), std::string::npos) << looping.body;
  int hops = 0;
  for (const auto &line : server.request_log())
    if (line.find("\"path\":\"/files/loop.png\"") != std::string::npos) ++hops;
  EXPECT_EQ(hops, 4);  // the first request and 3 redirects followed, no more
  EXPECT_EQ(tenants(server.url())[0].reserved, 0);
}

TEST_F(DevServerTest, ReferenceImageFetchIsBoundedInTimeAndScheme) {
  DevServerProcess server;
  // An image host that sends its headers and then nothing: given up after the 10 s limit.
  write_file(server.output_dir() + "/slow.png", std::vector<uint8_t>(4096, 0));
  server.add_faults(R"([{"match":"download","times":1,"stall_after_headers":true}])");
  const gint64 started = g_get_monotonic_time();
  Reply stalled = submit(
      server.url(), R"({"prompt":"p","first_frame_url":")" + server.url() + R"(/files/slow.png"})");
  const double waited_s = (g_get_monotonic_time() - started) / 1e6;
  EXPECT_EQ(stalled.status, 400);
  EXPECT_EQ(string_member(stalled.body, "field"), "first_frame_url");
  EXPECT_GE(waited_s, 9.5);
  EXPECT_LT(waited_s, 20.0);

  // A redirect away from http(s) is not followed.
  server.add_faults(R"([{"match":"download","times":1,"redirect_to":"file:///etc/passwd"}])");
  Reply elsewhere = submit(
      server.url(), R"({"prompt":"p","last_frame_url":")" + server.url() + R"(/files/away.png"})");
  EXPECT_EQ(elsewhere.status, 400);
  EXPECT_EQ(string_member(elsewhere.body, "field"), "last_frame_url");
  EXPECT_NE(elsewhere.body.find("not http(s)"), std::string::npos) << elsewhere.body;
  EXPECT_EQ(tenants(server.url())[0].reserved, 0);
}

// ---- files, Range ------------------------------------------------------------------------------

TEST_F(DevServerTest, FilesHaveContentLengthAndRanges) {
  DevServerArgs args;
  args.latency_ms = 100;
  DevServerProcess server(args);
  TaskOutput output =
      render(server.url(), R"({"prompt":"ranges","duration":4,"resolution":"480p"})");
  const std::string url = output.result_urls.at(0);
  const std::string bytes = read_file(server.output_dir() + "/" + file_name_of(url));
  ASSERT_GT(bytes.size(), 1000u);
  const std::string size = std::to_string(bytes.size());

  Reply whole = get(url);
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.headers["content-length"], size);
  EXPECT_EQ(whole.body, bytes);

  Reply middle = get(url, "", {{"Range", "bytes=100-299"}});
  EXPECT_EQ(middle.status, 206);
  EXPECT_EQ(middle.headers["content-range"], "bytes 100-299/" + size);
  EXPECT_EQ(middle.body, bytes.substr(100, 200));

  Reply tail = get(url, "", {{"Range", "bytes=1000-"}});
  EXPECT_EQ(tail.status, 206);
  EXPECT_EQ(tail.body, bytes.substr(1000));

  Reply suffix = get(url, "", {{"Range", "bytes=-50"}});
  EXPECT_EQ(suffix.status, 206);
  EXPECT_EQ(suffix.body, bytes.substr(bytes.size() - 50));

  Reply beyond = get(url, "", {{"Range", "bytes=" + size + "-"}});
  EXPECT_EQ(beyond.status, 416);
  EXPECT_EQ(beyond.headers["content-range"], "bytes */" + size);

  EXPECT_EQ(get(server.url() + "/files/no-such.mp4").status, 404);
  EXPECT_EQ(get(server.url() + "/files/.render-cache").status, 404);
}

// ---- money -------------------------------------------------------------------------------------

TEST_F(DevServerTest, TokensFollowThePriceModelAndBalancesAreExact) {
  DevServerArgs args;
  // Long enough that the tasks are normally still reserved when the balance is read below; the
  // check there holds either way, since a task that already ended has moved its reservation to
  // the balance.
  args.latency_ms = 1500;
  DevServerProcess server(args);
  struct Priced {
    std::string json;
    int64_t total;
  };
  const std::vector<Priced> requests = {
      // "abcdefgh" = 2 input tokens; 480p standard with audio = 1100/s.
      {R"({"prompt":"abcdefgh","duration":4,"resolution":"480p","sync":false})", 2 + 1100 * 4},
      // fast 720p without audio = 1800/s; "a fox" = 1.
      {R"({"model_name":"doubao-seedance-2-0-fast-260128","prompt":"a fox","duration":5,"generate_audio":false,"sync":false})",
       1 + 1800 * 5},
      // 720p standard with audio = 2475/s; one reference = 10.
      {R"({"prompt":"abcd","duration":6,"non_face_image_url":"http://h/a.png","sync":false})",
       10 + 1 + 2475 * 6},
      // fast 480p with audio = 880/s; "xy" = 0.
      {R"({"model_name":"doubao-seedance-2-0-fast-260128","prompt":"xy","duration":4,"resolution":"480p","sync":false})",
       3520},
  };
  const int64_t initial_balance = tenants(server.url())[0].balance;
  int64_t expected_spent = 0;
  std::vector<std::string> ids;
  for (const auto &priced : requests) {
    Reply reply = submit(server.url(), priced.json);
    ASSERT_EQ(reply.status, 200) << reply.body;
    TaskOutput queued = parse_task_output(reply.body);
    EXPECT_EQ(queued.total_tokens, priced.total) << priced.json;
    ids.push_back(queued.task_id);
    expected_spent += priced.total;
  }
  const auto during = tenants(server.url())[0];
  EXPECT_EQ(during.reserved + (initial_balance - during.balance), expected_spent);
  for (size_t i = 0; i < ids.size(); ++i) {
    TaskOutput done;
    follow(server.url(), ids[i], &done);
    EXPECT_EQ(done.state, TaskState::Succeeded);
    EXPECT_EQ(done.cost_points, requests[i].total);
  }
  auto accounts = tenants(server.url());
  EXPECT_EQ(accounts[0].balance, initial_balance - expected_spent);
  EXPECT_EQ(accounts[0].reserved, 0);
  int64_t charged = 0;
  for (const auto &line : server.request_log())
    if (line.find("\"event\":\"charge\"") != std::string::npos)
      with_object(line, [&](JsonObject *o) { charged += json_object_get_int_member(o, "tokens"); });
  EXPECT_EQ(charged, expected_spent);
}

// ---- faults ------------------------------------------------------------------------------------

TEST_F(DevServerTest, FaultStatusWithRetryAfterThenNormal) {
  DevServerProcess server;
  server.add_faults(
      R"([{"match":"status","status":503,"retry_after":"2","body":"{\"detail\":\"busy\"}"},)"
      R"({"match":"status","skip":1,"status":429,"retry_after":"Wed, 21 Oct 2037 07:28:00 GMT"}])");
  Reply first = status_of(server.url(), "task-x");
  EXPECT_EQ(first.status, 503);
  EXPECT_EQ(first.headers["retry-after"], "2");
  EXPECT_EQ(first.body, "{\"detail\":\"busy\"}");
  EXPECT_EQ(status_of(server.url(), "task-x").status, 404);  // skipped by the second rule
  Reply third = status_of(server.url(), "task-x");
  EXPECT_EQ(third.status, 429);
  EXPECT_EQ(third.headers["retry-after"], "Wed, 21 Oct 2037 07:28:00 GMT");
  EXPECT_EQ(status_of(server.url(), "task-x").status, 404);  // both rules used up
  EXPECT_TRUE(log_has(server, "\"status\":503"));
}

TEST_F(DevServerTest, FaultWithAPathAppliesToThatPathOnly) {
  DevServerProcess server;
  server.add_faults(R"([{"match":"status","path":"/api/v1/status/task-a","times":-1,"status":200,)"
                    R"("body":"{\"task_id\":\"task-a\",\"state\":\"succeeded\"}"},)"
                    R"({"match":"download","path":"/files/b.mp4","status":503}])");
  EXPECT_EQ(status_of(server.url(), "task-b").status, 404);
  for (int i = 0; i < 2; ++i) {
    Reply answered = status_of(server.url(), "task-a");
    EXPECT_EQ(answered.status, 200);
    EXPECT_NE(answered.body.find("\"task-a\""), std::string::npos) << answered.body;
  }
  EXPECT_EQ(get(server.url() + "/files/a.mp4").status, 404);
  EXPECT_EQ(get(server.url() + "/files/b.mp4").status, 503);
  EXPECT_EQ(get(server.url() + "/files/b.mp4").status, 404);  // used up
  std::string body;
  EXPECT_EQ(server.post_json("/_dev/faults", R"([{"match":"status","path":"task-a"}])", "", &body),
            400);
  EXPECT_NE(body.find("path"), std::string::npos) << body;
}

TEST_F(DevServerTest, FaultDropConnectionAnswersNothingAndCreatesNoTask) {
  DevServerProcess server;
  server.add_faults(R"([{"match":"submit","drop_connection":true}])");
  Reply reply = submit(server.url(), R"({"prompt":"p","sync":false})");
  EXPECT_EQ(reply.status, 0);
  EXPECT_FALSE(reply.error.empty());
  auto accounts = tenants(server.url());
  EXPECT_EQ(accounts[0].balance, 100000000);
  EXPECT_EQ(accounts[0].reserved, 0);
  EXPECT_TRUE(log_has(server, "drop_connection"));
}

TEST_F(DevServerTest, FaultCutAtSendsThatManyBytesThenCloses) {
  DevServerArgs args;
  args.latency_ms = 100;
  DevServerProcess server(args);
  TaskOutput output = render(server.url(), R"({"prompt":"cut","duration":4,"resolution":"480p"})");
  server.add_faults(R"([{"match":"download","cut_at":1000}])");
  Reply cut = get(output.result_urls.at(0));
  // The headers promise the whole file, the connection ends after 1000 bytes: an error for the
  // client, not a short success.
  EXPECT_FALSE(cut.error.empty());
  const std::string bytes = read_file(server.output_dir() + "/" + output.task_id + ".mp4");
  bool logged = false;
  for (const auto &line : server.request_log())
    if (line.find("cut_at") != std::string::npos &&
        line.find("\"bytes_sent\":1000") != std::string::npos)
      logged = true;
  EXPECT_TRUE(logged);
  // The resumed request with a Range gets the rest.
  Reply rest = get(output.result_urls.at(0), "", {{"Range", "bytes=1000-"}});
  EXPECT_EQ(rest.status, 206);
  EXPECT_EQ(rest.body, bytes.substr(1000));
}

TEST_F(DevServerTest, FaultBodiesMalformedHugeInvalidUtf8Html) {
  DevServerProcess server;
  server.add_faults(R"([{"match":"status","malformed_json":true},)"
                    R"({"match":"status","huge_body_bytes":10485760},)"
                    R"({"match":"status","invalid_utf8":true},)"
                    R"({"match":"status","html":true}])");
  Reply malformed = status_of(server.url(), "task-x");
  EXPECT_EQ(malformed.status, 200);
  EXPECT_THROW(parse_task_output(malformed.body), std::runtime_error);
  Reply huge = status_of(server.url(), "task-x");
  EXPECT_EQ(huge.body.size(), 10485760u);
  Reply invalid = status_of(server.url(), "task-x");
  EXPECT_FALSE(
      g_utf8_validate(invalid.body.data(), static_cast<gssize>(invalid.body.size()), nullptr));
  Reply html = status_of(server.url(), "task-x");
  EXPECT_EQ(html.status, 200);
  EXPECT_EQ(html.headers["content-type"].rfind("text/html", 0), 0u);
  EXPECT_NE(html.body.find("<html>"), std::string::npos);
}

TEST_F(DevServerTest, FaultStateFieldAndStateText) {
  DevServerProcess server;
  Reply reply =
      submit(server.url(), R"({"prompt":"p","duration":4,"resolution":"480p","sync":false})");
  std::string id = parse_task_output(reply.body).task_id;
  server.add_faults(R"([{"match":"status","state_field":"status"},)"
                    R"({"match":"status","state_text":"Processing"}])");
  Reply renamed = status_of(server.url(), id);
  with_object(renamed.body, [](JsonObject *o) {
    EXPECT_FALSE(json_object_has_member(o, "state"));
    EXPECT_TRUE(json_object_has_member(o, "status"));
  });
  EXPECT_EQ(parse_task_output(renamed.body).task_id, id);
  Reply odd = status_of(server.url(), id);
  EXPECT_EQ(string_member(odd.body, "state"), "Processing");
  EXPECT_EQ(parse_task_output(odd.body).state, TaskState::Pending);
}

TEST_F(DevServerTest, FaultTaskOutcomeFailsWithoutCharging) {
  DevServerProcess server;
  server.add_faults(R"([{"match":"submit","task_outcome":"failed"},)"
                    R"({"match":"submit","task_outcome":"expired"}])");
  Reply failed = submit(server.url(), R"({"prompt":"p","duration":4,"resolution":"480p"})");
  EXPECT_EQ(failed.status, 500);
  TaskOutput output = parse_task_output(failed.body);
  EXPECT_EQ(output.state, TaskState::Failed);
  EXPECT_TRUE(output.error_message.has_value());
  EXPECT_TRUE(output.result_urls.empty());
  Reply expiring =
      submit(server.url(), R"({"prompt":"p","duration":4,"resolution":"480p","sync":false})");
  TaskOutput done;
  follow(server.url(), parse_task_output(expiring.body).task_id, &done);
  EXPECT_EQ(done.state, TaskState::Expired);
  auto accounts = tenants(server.url());
  EXPECT_EQ(accounts[0].balance, 100000000);
  EXPECT_EQ(accounts[0].reserved, 0);
}

TEST_F(DevServerTest, FaultWarningsAreAddedToTheTasksOwnAdvice) {
  DevServerProcess server;
  server.add_faults(R"([{"match":"submit","warnings":["prompt: the style word is ignored"]}])");
  Reply answer =
      submit(server.url(), R"({"prompt":"p","duration":4,"resolution":"480p","sync":false,)"
                           R"("force_asset_upload":true})");
  ASSERT_EQ(answer.status, 200) << answer.body;
  TaskOutput done;
  follow(server.url(), parse_task_output(answer.body).task_id, &done);
  ASSERT_EQ(done.warnings.size(), 2u);
  EXPECT_EQ(done.warnings[0].rfind("force_asset_upload=true", 0), 0u);
  EXPECT_EQ(done.warnings[1], "prompt: the style word is ignored");
  std::string body;
  EXPECT_EQ(server.post_json("/_dev/faults", R"([{"match":"submit","warnings":"one"}])", "", &body),
            400);
  EXPECT_NE(body.find("warnings"), std::string::npos) << body;
  EXPECT_NE(body.find("must be a list of strings"), std::string::npos) << body;
  EXPECT_EQ(server.post_json("/_dev/faults", R"([{"match":"status","warnings":["x"]}])", "", &body),
            400);
  EXPECT_NE(body.find("needs"), std::string::npos) << body;
}

// A sync submit answered 504 naming its task, which then succeeds and is charged once.
void expect_504_with_a_task_that_goes_on(DevServerProcess &server) {
  Reply reply = submit(server.url(), R"({"prompt":"p","duration":4,"resolution":"480p"})");
  EXPECT_EQ(reply.status, 504) << reply.body;
  std::string id = string_member(reply.body, "task_id");
  ASSERT_FALSE(id.empty()) << reply.body;
  EXPECT_FALSE(string_member(reply.body, "detail").empty());
  TaskOutput done;
  follow(server.url(), id, &done);
  EXPECT_EQ(done.state, TaskState::Succeeded);
  EXPECT_EQ(tenants(server.url())[0].balance, 100000000 - done.total_tokens);
}

TEST_F(DevServerTest, FaultSyncTimeoutAnswers504WithATaskThatGoesOn) {
  DevServerProcess server;
  server.add_faults(R"([{"match":"submit","sync_timeout":true}])");
  expect_504_with_a_task_that_goes_on(server);
}

DevServerArgs with_sync_wait(int latency_ms, const char *sync_wait_ms) {
  DevServerArgs args;
  args.latency_ms = latency_ms;
  args.extra = {"--sync-wait-ms", sync_wait_ms};
  return args;
}

TEST_F(DevServerTest, SyncSubmitHeldPastTheSyncWaitIs504WithATaskThatGoesOn) {
  DevServerProcess server(with_sync_wait(2000, "300"));
  expect_504_with_a_task_that_goes_on(server);
  // A task that ends within the wait is answered as usual.
  DevServerProcess quick(with_sync_wait(100, "20000"));
  Reply answered = submit(quick.url(), R"({"prompt":"p","duration":4,"resolution":"480p"})");
  EXPECT_EQ(answered.status, 200) << answered.body;
  EXPECT_EQ(string_member(answered.body, "state"), "succeeded");
}

TEST_F(DevServerTest, FaultRateAndRedirectStillDeliverTheFile) {
  DevServerArgs args;
  args.latency_ms = 100;
  DevServerProcess server(args);
  DevServerProcess other(args);
  TaskOutput output = render(server.url(), R"({"prompt":"slow","duration":4,"resolution":"480p"})");
  const std::string bytes = read_file(server.output_dir() + "/" + output.task_id + ".mp4");
  server.add_faults(R"([{"match":"download","rate":400000}])");
  EXPECT_EQ(get(output.result_urls.at(0)).body, bytes);
  // Redirect to another host (a second server) holding the same file.
  write_file(other.output_dir() + "/moved.mp4", std::vector<uint8_t>(bytes.begin(), bytes.end()));
  server.add_faults(R"([{"match":"download","redirect_to":")" + other.url() +
                    R"(/files/moved.mp4"}])");
  Reply moved = get(output.result_urls.at(0));
  EXPECT_EQ(moved.status, 200);
  EXPECT_EQ(moved.body, bytes);
  EXPECT_TRUE(log_has(server, "\"status\":302"));
}

TEST_F(DevServerTest, FaultStallAfterHeadersSendsNoBody) {
  DevServerProcess server;
  write_file(server.output_dir() + "/small.bin", std::vector<uint8_t>(5000, 7));
  server.add_faults(R"([{"match":"download","stall_after_headers":true}])");
  Request request;
  request.url = server.url() + "/files/small.bin";
  request.timeout_s = 1;
  Reply stalled = fetch(request);
  EXPECT_FALSE(stalled.error.empty());
  EXPECT_TRUE(stalled.body.empty());
  EXPECT_TRUE(log_has(server, "stall_after_headers"));
}

// The bytes of one answer as they came over the wire, framing and all: `request` is sent on a
// fresh connection and the answer read until the server closes it or `limit` bytes are in.
std::string raw_exchange(const std::string &base_url, const std::string &request,
                         size_t limit = 64 * 1024 * 1024) {
  GUri *uri = g_uri_parse(base_url.c_str(), G_URI_FLAGS_NONE, nullptr);
  EXPECT_NE(uri, nullptr);
  if (!uri) return {};
  const int port = g_uri_get_port(uri);
  g_uri_unref(uri);
  GSocketClient *client = g_socket_client_new();
  g_socket_client_set_timeout(client, 30);
  GError *error = nullptr;
  GSocketConnection *connection = g_socket_client_connect_to_host(
      client, "127.0.0.1", static_cast<guint16>(port), nullptr, &error);
  g_object_unref(client);
  if (!connection) {
    ADD_FAILURE() << error->message;
    g_error_free(error);
    return {};
  }
  GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
  EXPECT_TRUE(
      g_output_stream_write_all(out, request.data(), request.size(), nullptr, nullptr, nullptr));
  GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(connection));
  std::string answer;
  char buffer[64 * 1024];
  while (answer.size() < limit) {
    gssize got = g_input_stream_read(in, buffer, std::min(sizeof buffer, limit - answer.size()),
                                     nullptr, nullptr);
    if (got <= 0) break;
    answer.append(buffer, static_cast<size_t>(got));
  }
  g_io_stream_close(G_IO_STREAM(connection), nullptr, nullptr);
  g_object_unref(connection);
  return answer;
}

std::string get_request(const std::string &path, const std::string &extra_headers = {}) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers +
         "\r\n";
}

// An answer split at the end of its head; the head's names lower-cased.
struct RawAnswer {
  std::string head;
  std::string body;
};

RawAnswer split_answer(const std::string &raw) {
  RawAnswer answer;
  size_t end = raw.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos) << raw.substr(0, 200);
  if (end == std::string::npos) return answer;
  gchar *head = g_ascii_strdown(raw.substr(0, end).c_str(), -1);
  answer.head = head;
  g_free(head);
  answer.body = raw.substr(end + 4);
  return answer;
}

// The data of a chunked body; *ended tells whether the last (empty) chunk came.
std::string dechunk(const std::string &body, bool *ended) {
  std::string data;
  *ended = false;
  size_t at = 0;
  while (at < body.size()) {
    size_t line_end = body.find("\r\n", at);
    if (line_end == std::string::npos) break;
    size_t size = std::stoul(body.substr(at, line_end - at), nullptr, 16);
    if (size == 0) {
      *ended = body.compare(line_end, 4, "\r\n\r\n") == 0;
      break;
    }
    data += body.substr(line_end + 2, size);
    at = line_end + 2 + size + 2;
  }
  return data;
}

std::string gunzip(const std::string &bytes) {
  GZlibDecompressor *decompressor = g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  std::string data;
  char buffer[64 * 1024];
  size_t consumed = 0;
  for (;;) {
    gsize read = 0, written = 0;
    GConverterResult result = g_converter_convert(
        G_CONVERTER(decompressor), bytes.data() + consumed, bytes.size() - consumed, buffer,
        sizeof buffer, G_CONVERTER_INPUT_AT_END, &read, &written, nullptr);
    consumed += read;
    data.append(buffer, written);
    if (result == G_CONVERTER_FINISHED || result == G_CONVERTER_ERROR) break;
  }
  g_object_unref(decompressor);
  return data;
}

TEST_F(DevServerTest, FaultChunkedAndNoLengthBodiesEndWhereTheRuleSays) {
  DevServerArgs args;
  args.latency_ms = 100;
  DevServerProcess server(args);
  TaskOutput output =
      render(server.url(), R"({"prompt":"framing","duration":4,"resolution":"480p"})");
  const std::string path = "/files/" + file_name_of(output.result_urls.at(0));
  const std::string bytes = read_file(server.output_dir() + path.substr(6));
  ASSERT_GT(bytes.size(), 30000u);

  server.add_faults(R"([{"match":"download","chunked":true}])");
  RawAnswer whole = split_answer(raw_exchange(server.url(), get_request(path)));
  EXPECT_NE(whole.head.find("transfer-encoding: chunked"), std::string::npos) << whole.head;
  EXPECT_EQ(whole.head.find("content-length"), std::string::npos) << whole.head;
  bool ended = false;
  EXPECT_EQ(dechunk(whole.body, &ended), bytes);
  EXPECT_TRUE(ended);

  // Cut: whole chunks up to the cut, then the connection closes without the last, empty chunk.
  server.add_faults(R"([{"match":"download","chunked":true,"cut_at":20000}])");
  RawAnswer cut = split_answer(raw_exchange(server.url(), get_request(path)));
  EXPECT_EQ(dechunk(cut.body, &ended), bytes.substr(0, 20000));
  EXPECT_FALSE(ended);

  server.add_faults(R"([{"match":"download","no_length":true,"cut_at":20000}])");
  RawAnswer short_one = split_answer(raw_exchange(server.url(), get_request(path)));
  EXPECT_EQ(short_one.head.find("content-length"), std::string::npos) << short_one.head;
  EXPECT_EQ(short_one.head.find("transfer-encoding"), std::string::npos) << short_one.head;
  EXPECT_NE(short_one.head.find("connection: close"), std::string::npos) << short_one.head;
  EXPECT_EQ(short_one.body, bytes.substr(0, 20000));

  server.add_faults(R"([{"match":"download","no_length":true}])");
  EXPECT_EQ(split_answer(raw_exchange(server.url(), get_request(path))).body, bytes);
  EXPECT_TRUE(wait_until([&] { return log_has(server, "\"bytes_sent\":20000"); }));
}

TEST_F(DevServerTest, FaultEndlessBodyFollowsTheFileWithFillerUntilTheClientGoes) {
  DevServerArgs args;
  args.latency_ms = 100;
  DevServerProcess server(args);
  TaskOutput output =
      render(server.url(), R"({"prompt":"endless","duration":4,"resolution":"480p"})");
  const std::string path = "/files/" + file_name_of(output.result_urls.at(0));
  const std::string bytes = read_file(server.output_dir() + path.substr(6));
  const size_t limit = bytes.size() + 4 * 1024 * 1024;
  server.add_faults(R"([{"match":"download","endless":true}])");
  std::string raw = raw_exchange(server.url(), get_request(path), limit);
  EXPECT_EQ(raw.size(), limit);  // it never ends by itself
  RawAnswer endless = split_answer(raw);
  EXPECT_EQ(endless.head.find("content-length"), std::string::npos) << endless.head;
  EXPECT_EQ(endless.body.substr(0, bytes.size()), bytes);
  // The writer stops once the client is gone, and the log says how much went out.
  EXPECT_TRUE(wait_until([&] { return log_has(server, "endless"); }));
}

TEST_F(DevServerTest, FaultGzipAndIgnoreRangeChangeHowTheFileComes) {
  DevServerArgs args;
  args.latency_ms = 100;
  DevServerProcess server(args);
  TaskOutput output = render(server.url(), R"({"prompt":"gzip","duration":4,"resolution":"480p"})");
  const std::string path = "/files/" + file_name_of(output.result_urls.at(0));
  const std::string bytes = read_file(server.output_dir() + path.substr(6));

  // Compressed although the client asked for the bytes as they are.
  server.add_faults(R"([{"match":"download","gzip":true}])");
  RawAnswer gzipped =
      split_answer(raw_exchange(server.url(), get_request(path, "Accept-Encoding: identity\r\n")));
  EXPECT_NE(gzipped.head.find("content-encoding: gzip"), std::string::npos) << gzipped.head;
  EXPECT_NE(gzipped.body, bytes);
  EXPECT_EQ(gunzip(gzipped.body), bytes);

  server.add_faults(R"([{"match":"download","ignore_range":true}])");
  Reply whole = get(output.result_urls.at(0), "", {{"Range", "bytes=1000-"}});
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, bytes);
  // The log still shows what was asked.
  EXPECT_TRUE(wait_until([&] { return log_has(server, "\"range\":\"bytes=1000-\""); }));
}

TEST_F(DevServerTest, FaultStatusOfAnswersAboutAnotherTask) {
  DevServerProcess server;
  Reply first = submit(server.url(), R"({"prompt":"one","sync":false})");
  Reply second = submit(server.url(), R"({"prompt":"two","sync":false})");
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(second.status, 200);
  const std::string one = string_member(first.body, "task_id");
  const std::string two = string_member(second.body, "task_id");
  server.add_faults(R"([{"match":"status","status_of":")" + two +
                    R"("},{"match":"status","status_of":"task-nobody-has"}])");
  EXPECT_EQ(string_member(status_of(server.url(), one).body, "task_id"), two);
  Reply made_up = status_of(server.url(), one);
  EXPECT_EQ(made_up.status, 200);
  EXPECT_EQ(string_member(made_up.body, "task_id"), "task-nobody-has");
  EXPECT_FALSE(string_member(made_up.body, "state").empty());
  EXPECT_EQ(string_member(status_of(server.url(), one).body, "task_id"), one);  // rules used up
}

TEST_F(DevServerTest, FaultHoldMsCreatesTheTaskThenAnswersThatMuchLater) {
  DevServerProcess server;
  server.add_faults(R"([{"match":"submit","hold_ms":1500}])");
  Reply reply = submit(server.url(), R"({"prompt":"held","sync":false})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const std::string task = string_member(reply.body, "task_id");
  int64_t created_ms = -1, answered_ms = -1, received_ms = -1;
  for (const auto &line : server.request_log()) {
    with_object(line, [&](JsonObject *o) {
      const char *event = json_object_get_string_member_with_default(o, "event", "");
      const char *method = json_object_get_string_member_with_default(o, "method", "");
      const char *id = json_object_get_string_member_with_default(o, "task_id", "");
      if (g_str_equal(event, "submit") && task == id)
        created_ms = json_object_get_int_member(o, "t_ms");
      if (g_str_equal(method, "POST")) {
        answered_ms = json_object_get_int_member(o, "t_ms");
        received_ms = json_object_get_int_member(o, "received_ms");
      }
    });
  }
  ASSERT_GE(created_ms, 0);
  ASSERT_GE(answered_ms, 0);
  // The task existed (and was being paid for) a whole hold before its answer left; the log also
  // says when the request came in: before its task was made.
  EXPECT_GE(answered_ms - created_ms, 1500);
  EXPECT_GE(received_ms, 0);
  EXPECT_LE(received_ms, created_ms);

  std::string body;
  for (const char *bad :
       {R"([{"match":"status","ignore_range":true}])", R"([{"match":"download","status_of":"x"}])",
        R"([{"match":"download","chunked":true,"no_length":true}])",
        R"([{"match":"submit","hold_ms":-1}])"}) {
    EXPECT_EQ(server.post_json("/_dev/faults", bad, "", &body), 400) << bad;
    EXPECT_NE(body.find("fault rule"), std::string::npos) << body;
  }
}

TEST_F(DevServerTest, FaultRulesValidatedAndPreloadedFromTheCommandLine) {
  std::string dir = test::make_temp_dir("faults");
  std::string rules = dir + "/rules.json";
  std::ofstream(rules) << R"([{"match":"any","status":500,"times":2}])";
  DevServerArgs args;
  args.extra = {"--faults", rules};
  DevServerProcess server(args);
  EXPECT_EQ(status_of(server.url(), "task-x").status, 500);
  EXPECT_EQ(get(server.url() + "/files/x.mp4").status, 500);
  EXPECT_EQ(get(server.url() + "/files/x.mp4").status, 404);

  std::string body;
  EXPECT_EQ(server.post_json("/_dev/faults", R"([{"match":"submit","bogus":1}])", "", &body), 400);
  EXPECT_NE(body.find("bogus"), std::string::npos);
  EXPECT_EQ(server.post_json("/_dev/faults", R"([{"match":"status","status":500,"times":-1}])", "",
                             &body),
            200);
  EXPECT_EQ(status_of(server.url(), "task-x").status, 500);
  EXPECT_EQ(status_of(server.url(), "task-x").status, 500);
  Request clear;
  clear.method = "DELETE";
  clear.url = server.url() + "/_dev/faults";
  EXPECT_EQ(fetch(clear).status, 200);
  EXPECT_EQ(status_of(server.url(), "task-x").status, 404);
}

// ---- log and key hygiene ----------------------------------------------------------------------

TEST_F(DevServerTest, RequestLogRecordsRequestsButNeverTheKey) {
  DevServerArgs args;
  args.latency_ms = 100;
  DevServerProcess server(args);
  TaskOutput output =
      render(server.url(), R"({"prompt":"logged","duration":4,"resolution":"480p"})");
  get(output.result_urls.at(0), "", {{"Range", "bytes=0-"}});
  submit(server.url(), R"({"prompt":"p"})", "");
  std::vector<std::string> lines = server.request_log();
  ASSERT_FALSE(lines.empty());
  bool submit_with_key = false;
  bool submit_without_key = false;
  bool ranged_download = false;
  for (const auto &line : lines) {
    EXPECT_EQ(line.find(kKey), std::string::npos) << line;
    if (line.find(kSubmitPath) != std::string::npos) {
      with_object(line, [&](JsonObject *o) {
        bool authorized = json_object_get_boolean_member(o, "authorization");
        (authorized ? submit_with_key : submit_without_key) = true;
      });
    }
    if (line.find("\"range\":\"bytes=0-\"") != std::string::npos &&
        line.find(output.task_id) != std::string::npos)
      ranged_download = true;
  }
  EXPECT_TRUE(submit_with_key);
  EXPECT_TRUE(submit_without_key);
  EXPECT_TRUE(ranged_download);
  // The --log file has the same lines and no key either.
  std::string file = read_file(server.output_dir() + "/requests.jsonl");
  EXPECT_NE(file.find(output.task_id), std::string::npos);
  EXPECT_EQ(file.find(kKey), std::string::npos);
  EXPECT_EQ(get(server.url() + "/_dev/tenants").body.find(kKey), std::string::npos);
}

// ---- load --------------------------------------------------------------------------------------

TEST_F(DevServerTest, TwoHundredConcurrentClientsLoseNothingAndBalancesStayExact) {
  DevServerArgs args;
  args.latency_ms = 300;
  DevServerProcess server(args);
  constexpr int kClients = 200;
  std::mutex lock;
  std::set<std::string> ids;
  std::atomic<int> succeeded{0};
  std::atomic<int64_t> charged{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      // Four distinct clips: a few renders, many tasks.
      std::string json =
          R"({"prompt":"load )" + std::to_string(i % 4) +
          R"(","duration":4,"resolution":"480p","generate_audio":false,"sync":false})";
      Reply reply = submit(server.url(), json);
      if (reply.status != 200) {
        std::lock_guard<std::mutex> guard(lock);
        ADD_FAILURE() << "submit: " << reply.status << " " << reply.error << " " << reply.body;
        return;
      }
      TaskOutput queued = parse_task_output(reply.body);
      {
        std::lock_guard<std::mutex> guard(lock);
        ids.insert(queued.task_id);
      }
      int64_t deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
      while (g_get_monotonic_time() < deadline) {
        Reply status = status_of(server.url(), queued.task_id);
        if (status.status == 200) {
          TaskOutput output = parse_task_output(status.body);
          if (output.state == TaskState::Succeeded) {
            ++succeeded;
            charged += output.total_tokens;
            return;
          }
          if (is_terminal(output.state)) return;
        }
        g_usleep(50 * 1000);
      }
    });
  }
  for (auto &client : clients) client.join();
  EXPECT_EQ(ids.size(), static_cast<size_t>(kClients));
  EXPECT_EQ(succeeded.load(), kClients);
  auto accounts = tenants(server.url());
  EXPECT_EQ(accounts[0].balance, 100000000 - charged.load());
  EXPECT_EQ(accounts[0].reserved, 0);
  EXPECT_EQ(charged.load(), int64_t{kClients} * (1 + 1000 * 4));
  int charges = 0;
  for (const auto &line : server.request_log())
    if (line.find("\"event\":\"charge\"") != std::string::npos) ++charges;
  EXPECT_EQ(charges, kClients);
}

// ---- command line ------------------------------------------------------------------------------

TEST_F(DevServerTest, CommandLinePrintsOneListeningLineAndExitsCleanlyOnSigterm) {
  std::string dir = test::make_temp_dir("cli");
  std::vector<std::string> argv = {test::devserver_binary(),  "--port",       "0", "--key",
                                   std::string(kKey) + ":10", "--output-dir", dir};
  std::vector<char *> cargv;
  for (auto &arg : argv) cargv.push_back(arg.data());
  cargv.push_back(nullptr);
  GPid pid = 0;
  gint out_fd = -1;
  ASSERT_TRUE(g_spawn_async_with_pipes(nullptr, cargv.data(), nullptr, G_SPAWN_DO_NOT_REAP_CHILD,
                                       nullptr, nullptr, &pid, nullptr, &out_fd, nullptr, nullptr));
  FILE *out = fdopen(out_fd, "r");
  char line[256] = {};
  ASSERT_NE(fgets(line, sizeof line, out), nullptr);
  std::string text = line;
  const std::string prefix = "see2ai-devserver listening on http://127.0.0.1:";
  EXPECT_EQ(text.rfind(prefix, 0), 0u) << text;
  std::string url = text.substr(text.find("http://"));
  url.pop_back();  // '\n'
  EXPECT_EQ(get(url + "/_dev/tenants").status, 200);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  g_spawn_close_pid(pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(fgets(line, sizeof line, out), nullptr);  // exactly one line
  fclose(out);

  std::string command = test::devserver_binary() + " --port 0 2>/dev/null";
  int without_key = system(command.c_str());
  EXPECT_TRUE(WIFEXITED(without_key));
  EXPECT_EQ(WEXITSTATUS(without_key), 2);
}

// ---- in-process --------------------------------------------------------------------------------

TEST_F(DevServerTest, InProcessServerServesAndStopsWithRequestsHeld) {
  DevServerOptions options;
  options.tenants = {{kKey, 1000000}};
  options.latency_ms = 60000;  // the held request can only end by stop()
  options.output_dir = test::make_temp_dir("inprocess");
  DevServer server(options);
  server.start();
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(server.base_url(), "http://127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(server.output_dir(), options.output_dir);
  write_file(server.output_dir() + "/blob.bin", std::vector<uint8_t>(100, 1));
  server.add_faults(R"([{"match":"download","stall_after_headers":true}])");

  Reply held;
  std::thread sync_client([&] { held = submit(server.base_url(), R"({"prompt":"held"})"); });
  Reply stalled;
  std::thread stalled_client([&] { stalled = get(server.base_url() + "/files/blob.bin"); });
  bool waiting = wait_until([&] {
    std::string log = get(server.base_url() + "/_dev/log").body;
    return log.find("\"state\":\"queued\"") != std::string::npos &&
           log.find("stall_after_headers") != std::string::npos;
  });
  EXPECT_TRUE(waiting);
  server.stop();
  sync_client.join();
  stalled_client.join();
  EXPECT_EQ(held.status, 0);  // the connection closed with the server, no answer
  EXPECT_TRUE(stalled.body.empty());
  EXPECT_THROW(server.add_faults("[{\"match\":\"nowhere\"}]"), std::invalid_argument);
}

}  // namespace
}  // namespace see2ai::dev
