// GenerationJob against the real dev server (faults injected, request log read) and against small
// SoupServers of the test's own where a second host is needed: submit never twice, retries, cache,
// journal, Range-resumed downloads, the key kept to the service's origin.
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>
#include <libsoup/soup.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "clip_cache.h"
#include "clip_renderer.h"
#include "devserver_process.h"
#include "generation_job.h"
#include "growing_file.h"
#include "poll_schedule.h"
#include "retry_policy.h"
#include "server_log.h"
#include "service_error.h"

using see2ai::CacheMode;
using see2ai::ClientConfig;
using see2ai::ClipCache;
using see2ai::ErrorKind;
using see2ai::GenerationJob;
using see2ai::GenerationRequest;
using see2ai::GrowingFile;
using see2ai::JobEvents;
using see2ai::JobResult;
using see2ai::KeyLock;
using see2ai::ServiceError;
using see2ai::TaskOutput;
using see2ai::TaskState;
using see2ai::test::count_submits;
using see2ai::test::DevServerArgs;
using see2ai::test::DevServerProcess;
using see2ai::test::LogEntry;
using see2ai::test::make_temp_dir;
using see2ai::test::read_log;

namespace {

constexpr const char *kKey = "test-key-0123456789";
constexpr const char *kSubmitPath = "/api/v1/actions/see2ai_video_generation_v1";

// The requests in `log` of `method` whose path starts with `path_prefix`.
size_t count_requests(const std::vector<LogEntry> &log, const std::string &method,
                      const std::string &path_prefix) {
  return see2ai::test::only(log,
                            [&](const LogEntry &entry) {
                              return entry.event.empty() && entry.method == method &&
                                     entry.path.rfind(path_prefix, 0) == 0;
                            })
      .size();
}

std::string read_whole(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A real MP4 (one second, small, no sound), made now: what a result host sends.
std::string small_clip(const std::string &seed) {
  see2ai::dev::RenderSpec spec;
  spec.width = 320;
  spec.height = 240;
  spec.duration_s = 1;
  spec.audio = see2ai::dev::AudioTrack::None;
  spec.seed_text = seed;
  std::string path = make_temp_dir("small-clip") + "/clip.mp4";
  see2ai::dev::render_clip(spec, path);
  return read_whole(path);
}

std::string path_of(const std::string &url) {
  GUri *uri = g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, nullptr);
  std::string path = uri ? g_uri_get_path(uri) : "";
  if (uri) g_uri_unref(uri);
  return path;
}

// Records every event; lets a test wait for one and act from its own thread.
class RecordingEvents : public JobEvents {
 public:
  void on_submitting() override {
    note([&] { ++submits; });
  }
  void on_task_id(const std::string &task_id, bool resumed) override {
    note([&] { task_ids.emplace_back(task_id, resumed); });
  }
  void on_state(const TaskOutput &output, int64_t elapsed_ms) override {
    note([&] {
      states.push_back(output.state);
      elapsed.push_back(elapsed_ms);
    });
  }
  void on_waiting_for_other_run() override {
    note([&] { ++waits; });
  }
  void on_cache_hit(const TaskOutput &output) override {
    note([&] { cache_hits.push_back(output.task_id); });
  }
  void on_warning(const std::string &message) override {
    note([&] { warnings.push_back(message); });
  }
  void on_download_started(size_t index, std::shared_ptr<GrowingFile> file) override {
    note([&] { started.emplace_back(index, file); });
  }

  // Waits until `condition` holds (checked under the lock) or 60 s pass.
  bool wait_for(const std::function<bool()> &condition) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(60), condition);
  }

  std::mutex mutex;
  std::condition_variable changed;
  int submits = 0;
  int waits = 0;
  std::vector<std::pair<std::string, bool>> task_ids;
  std::vector<TaskState> states;
  std::vector<int64_t> elapsed;
  std::vector<std::string> warnings;
  std::vector<std::string> cache_hits;
  std::vector<std::pair<size_t, std::shared_ptr<GrowingFile>>> started;

 private:
  void note(const std::function<void()> &update) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      update();
    }
    changed.notify_all();
  }
};

// A SoupServer on its own thread and GMainContext, answering with `handler` on that thread.
class LoopbackServer {
 public:
  using Handler = std::function<void(SoupServerMessage *)>;

  // `socket`: a bound socket to listen on (else a free port). `certificate`: serve https.
  explicit LoopbackServer(Handler handler, GSocket *socket = nullptr,
                          GTlsCertificate *certificate = nullptr)
      : handler_(std::move(handler)), https_(certificate != nullptr) {
    std::promise<void> ready;
    std::future<void> listening = ready.get_future();
    thread_ = std::thread([this, socket, certificate, &ready] {
      context_ = g_main_context_new();
      g_main_context_push_thread_default(context_);
      loop_ = g_main_loop_new(context_, FALSE);
      server_ = soup_server_new("tls-certificate", certificate, nullptr);
      soup_server_add_handler(server_, nullptr, &LoopbackServer::handle, this, nullptr);
      GError *error = nullptr;
      auto tls = certificate ? SOUP_SERVER_LISTEN_HTTPS : SoupServerListenOptions(0);
      bool listening =
          socket ? g_socket_listen(socket, &error) &&
                       soup_server_listen_socket(server_, socket, tls, &error)
                 : soup_server_listen_local(
                       server_, 0, SoupServerListenOptions(SOUP_SERVER_LISTEN_IPV4_ONLY | tls),
                       &error);
      if (!listening) {
        g_error_free(error);
      } else {
        GSList *uris = soup_server_get_uris(server_);
        port_ = g_uri_get_port(static_cast<GUri *>(uris->data));
        g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
      }
      ready.set_value();
      if (port_ > 0) g_main_loop_run(loop_);
      soup_server_disconnect(server_);
      g_object_unref(server_);
      // Closing connections finishes in callbacks on this context.
      while (g_main_context_iteration(context_, FALSE)) {
      }
      g_main_loop_unref(loop_);
      g_main_context_pop_thread_default(context_);
      g_main_context_unref(context_);
    });
    listening.wait();
    if (port_ <= 0) {
      thread_.join();
      throw std::runtime_error("the loopback server could not listen");
    }
  }

  ~LoopbackServer() {
    g_main_context_invoke(
        context_,
        [](gpointer loop) {
          g_main_loop_quit(static_cast<GMainLoop *>(loop));
          return G_SOURCE_REMOVE;
        },
        loop_);
    thread_.join();
  }

  std::string url() const {
    return std::string(https_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }

 private:
  static void handle(SoupServer *, SoupServerMessage *message, const char *, GHashTable *,
                     gpointer self) {
    static_cast<LoopbackServer *>(self)->handler_(message);
  }

  Handler handler_;
  bool https_;
  std::thread thread_;
  GMainContext *context_ = nullptr;
  GMainLoop *loop_ = nullptr;
  SoupServer *server_ = nullptr;
  int port_ = 0;
};

// A self-signed certificate for 127.0.0.1, made with openssl for this test run.
GTlsCertificate *self_signed_certificate() {
  std::string dir = make_temp_dir("tls");
  std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  std::vector<std::string> argv = {"openssl", "req",     "-x509", "-newkey",      "rsa:2048",
                                   "-nodes",  "-keyout", key,     "-out",         cert,
                                   "-days",   "1",       "-subj", "/CN=127.0.0.1"};
  std::vector<char *> cargv;
  for (auto &arg : argv) cargv.push_back(arg.data());
  cargv.push_back(nullptr);
  gint status = -1;
  if (!g_spawn_sync(nullptr, cargv.data(), nullptr,
                    GSpawnFlags(G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                                G_SPAWN_STDERR_TO_DEV_NULL),
                    nullptr, nullptr, nullptr, nullptr, &status, nullptr) ||
      !g_spawn_check_wait_status(status, nullptr))
    return nullptr;
  return g_tls_certificate_new_from_files(cert.c_str(), key.c_str(), nullptr);
}

void answer(SoupServerMessage *message, int status, const std::string &content_type,
            const std::string &body) {
  soup_server_message_set_response(message, content_type.c_str(), SOUP_MEMORY_COPY, body.data(),
                                   body.size());
  soup_server_message_set_status(message, static_cast<guint>(status), nullptr);
}

void redirect(SoupServerMessage *message, const std::string &location) {
  soup_message_headers_replace(soup_server_message_get_response_headers(message), "Location",
                               location.c_str());
  soup_server_message_set_status(message, 302, nullptr);
}

std::string message_path(SoupServerMessage *message) {
  return g_uri_get_path(soup_server_message_get_uri(message));
}

// What a LoopbackServer saw, thread-safe.
struct SeenRequests {
  std::mutex mutex;
  std::vector<std::string> paths;
  std::vector<bool> authorization;

  void record(SoupServerMessage *message) {
    std::lock_guard<std::mutex> lock(mutex);
    paths.push_back(g_uri_get_path(soup_server_message_get_uri(message)));
    authorization.push_back(
        soup_message_headers_get_one(soup_server_message_get_request_headers(message),
                                     "Authorization") != nullptr);
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mutex);
    return paths.size();
  }
  bool any_authorization() {
    std::lock_guard<std::mutex> lock(mutex);
    for (bool seen : authorization)
      if (seen) return true;
    return false;
  }
};

// A loopback TCP socket bound to a free port, not listening: connections to it are refused.
GSocket *bound_loopback_socket() {
  GSocket *socket =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  if (!socket) return nullptr;
  GInetAddress *loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *any_port = g_inet_socket_address_new(loopback, 0);
  bool bound = g_socket_bind(socket, any_port, TRUE, nullptr);
  g_object_unref(any_port);
  g_object_unref(loopback);
  if (!bound) g_clear_object(&socket);
  return socket;
}

int local_port(GSocket *socket) {
  GSocketAddress *address = g_socket_get_local_address(socket, nullptr);
  int port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(address));
  g_object_unref(address);
  return port;
}

void expect_no_key(const ServiceError &error) {
  EXPECT_EQ(std::string(error.what()).find(kKey), std::string::npos) << error.what();
  EXPECT_EQ(error.service_message.find(kKey), std::string::npos) << error.service_message;
}

// Runs the job expecting a ServiceError; returns it.
ServiceError run_expecting_error(GenerationJob &job) {
  try {
    job.run();
  } catch (const ServiceError &error) {
    expect_no_key(error);
    return error;
  }
  ADD_FAILURE() << "the job succeeded";
  return ServiceError(ErrorKind::Failed, "no error");
}

class GenerationJobTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    DevServerArgs args;
    args.keys = {std::string(kKey) + ":100000000", "poor-key-0123456789:10"};
    args.latency_ms = 300;
    server_ = new DevServerProcess(args);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ClearFaults(); }
  static void ClearFaults() {
    SoupSession *session = soup_session_new();
    SoupMessage *message = soup_message_new("DELETE", (server_->url() + "/_dev/faults").c_str());
    GBytes *bytes = soup_session_send_and_read(session, message, nullptr, nullptr);
    if (bytes) g_bytes_unref(bytes);
    g_object_unref(message);
    g_object_unref(session);
  }

  static ClientConfig config() {
    ClientConfig config;
    config.api_url = server_->url();
    config.api_key = kKey;
    config.poll_interval_ms = 100;
    config.retries = 4;
    config.timeout_s = 60;
    config.read_timeout_s = 5;
    return config;
  }

  static GenerationRequest request(const std::string &prompt) {
    GenerationRequest request;
    request.prompt = prompt;
    request.duration = 4;
    request.resolution = "480p";
    request.aspect_ratio = "16:9";
    request.generate_audio = false;
    request.sync = false;
    return request;
  }

  // The bytes the dev server serves for a result URL.
  static std::string served_bytes(const std::string &url) {
    std::string body;
    EXPECT_EQ(server_->get(path_of(url), &body), 200);
    return body;
  }

  static DevServerProcess *server_;
};
DevServerProcess *GenerationJobTest::server_ = nullptr;

TEST_F(GenerationJobTest, AsyncHappyPathDownloadsCompleteClipAndReportsStatesInOrder) {
  RecordingEvents events;
  size_t log_before = read_log(*server_).size();
  GenerationJob job(config(), request("async happy path"), events);
  JobResult result = job.run();

  EXPECT_FALSE(result.from_cache);
  EXPECT_EQ(result.output.state, TaskState::Succeeded);
  EXPECT_GT(result.output.total_tokens, 0);
  EXPECT_GT(result.output.output_tokens, 0);
  ASSERT_EQ(result.output.result_urls.size(), 1u);
  ASSERT_EQ(result.files.size(), 1u);
  EXPECT_TRUE(result.files[0]->complete());
  EXPECT_EQ(read_whole(result.files[0]->path()), served_bytes(result.output.result_urls[0]));

  EXPECT_EQ(events.submits, 1);
  ASSERT_EQ(events.task_ids.size(), 1u);
  EXPECT_EQ(events.task_ids[0].first, result.output.task_id);
  EXPECT_FALSE(events.task_ids[0].second);
  ASSERT_GE(events.states.size(), 2u);
  EXPECT_EQ(events.states.front(), TaskState::Queued);
  EXPECT_EQ(events.states.back(), TaskState::Succeeded);
  EXPECT_TRUE(std::is_sorted(
      events.states.begin(), events.states.end(),
      [](TaskState a, TaskState b) { return static_cast<int>(a) < static_cast<int>(b); }));
  EXPECT_TRUE(std::is_sorted(events.elapsed.begin(), events.elapsed.end()));
  ASSERT_EQ(events.started.size(), 1u);
  EXPECT_EQ(events.started[0].first, 0u);
  EXPECT_EQ(events.started[0].second, result.files[0]);

  std::vector<LogEntry> log = read_log(*server_);
  log.erase(log.begin(), log.begin() + static_cast<long>(log_before));
  EXPECT_EQ(count_requests(log, "POST", kSubmitPath), 1u);
  for (const LogEntry &line : log) {
    if (!line.event.empty()) continue;
    if (line.path.rfind("/files/", 0) == 0) continue;
    EXPECT_TRUE(line.authorization) << line.path;
  }
}

TEST_F(GenerationJobTest, SyncSubmitWaitsForTheResult) {
  RecordingEvents events;
  GenerationRequest sync_request = request("sync happy path");
  sync_request.sync = true;
  size_t posts_before = count_submits(*server_);
  GenerationJob job(config(), sync_request, events);
  JobResult result = job.run();
  EXPECT_EQ(result.output.state, TaskState::Succeeded);
  ASSERT_EQ(result.files.size(), 1u);
  EXPECT_EQ(read_whole(result.files[0]->path()), served_bytes(result.output.result_urls[0]));
  EXPECT_EQ(count_submits(*server_), posts_before + 1);
}

TEST_F(GenerationJobTest, SyncTimeoutWithTaskIdContinuesByPollingWithoutResubmitting) {
  server_->add_faults(R"([{"match":"submit","sync_timeout":true}])");
  RecordingEvents events;
  GenerationRequest sync_request = request("sync 504");
  sync_request.sync = true;
  size_t log_before = read_log(*server_).size();
  GenerationJob job(config(), sync_request, events);
  JobResult result = job.run();
  EXPECT_EQ(result.output.state, TaskState::Succeeded);
  std::vector<LogEntry> log = read_log(*server_);
  log.erase(log.begin(), log.begin() + static_cast<long>(log_before));
  EXPECT_EQ(count_requests(log, "POST", kSubmitPath), 1u);
  EXPECT_GE(count_requests(log, "GET", "/api/v1/status/" + result.output.task_id), 1u);
}

TEST_F(GenerationJobTest, BadRequestMapsToSettingsNamingTheField) {
  server_->add_faults(
      R"([{"match":"submit","status":400,"body":"{\"detail\":\"duration must be 4..15 or -1\"}"}])");
  RecordingEvents events;
  GenerationJob job(config(), request("bad request"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Settings);
  EXPECT_EQ(error.http_status, 400);
  EXPECT_NE(std::string(error.what()).find("duration"), std::string::npos) << error.what();
}

TEST_F(GenerationJobTest, UnknownKeyMapsToNotAuthorized) {
  RecordingEvents events;
  ClientConfig bad_key = config();
  bad_key.api_key = "wrong-key-0123456789";
  GenerationJob job(bad_key, request("unknown key"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::NotAuthorized);
  EXPECT_EQ(error.http_status, 401);
  EXPECT_EQ(std::string(error.what()).find("wrong-key-0123456789"), std::string::npos);
}

TEST_F(GenerationJobTest, LowBalanceMapsToNotAuthorizedSayingBalance) {
  RecordingEvents events;
  ClientConfig poor = config();
  poor.api_key = "poor-key-0123456789";
  GenerationJob job(poor, request("low balance"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::NotAuthorized);
  EXPECT_EQ(error.http_status, 402);
  EXPECT_NE(std::string(error.what()).find("balance"), std::string::npos) << error.what();
}

TEST_F(GenerationJobTest, InvalidRequestIsRefusedLocallyWithoutSubmitting) {
  RecordingEvents events;
  GenerationRequest invalid = request("invalid duration");
  invalid.duration = 99;
  size_t posts_before = count_submits(*server_);
  GenerationJob job(config(), invalid, events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Settings);
  EXPECT_NE(std::string(error.what()).find("duration"), std::string::npos) << error.what();
  EXPECT_EQ(count_submits(*server_), posts_before);
}

TEST_F(GenerationJobTest, KeyEchoedByTheServiceIsScrubbedFromErrors) {
  server_->add_faults(
      std::string(R"([{"match":"submit","status":500,"body":"{\"detail\":\"boom for )") + kKey +
      R"(\"}"}])");
  RecordingEvents events;
  size_t posts_before = count_submits(*server_);
  GenerationJob job(config(), request("key echo"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Failed);
  EXPECT_EQ(error.http_status, 500);
  EXPECT_NE(std::string(error.what()).find("boom"), std::string::npos) << error.what();
  // A 5xx may come after the service took the request: a submit is not repeated on it.
  EXPECT_EQ(count_submits(*server_), posts_before + 1);
}

TEST_F(GenerationJobTest, RetryAfterOnAPollDelaysTheNextRequest) {
  server_->add_faults(R"([{"match":"status","status":429,"retry_after":"2"}])");
  RecordingEvents events;
  size_t log_before = read_log(*server_).size();
  GenerationJob job(config(), request("retry after"), events);
  JobResult result = job.run();
  EXPECT_EQ(result.output.state, TaskState::Succeeded);
  std::vector<LogEntry> log = read_log(*server_);
  log.erase(log.begin(), log.begin() + static_cast<long>(log_before));
  std::optional<int64_t> refused_at;
  std::optional<int64_t> next_at;
  for (const LogEntry &line : log) {
    if (!line.event.empty()) continue;
    if (refused_at && !next_at) next_at = line.received_ms;
    if (line.status == 429 && !refused_at) refused_at = line.received_ms;
  }
  ASSERT_TRUE(refused_at && next_at);
  EXPECT_GE(*next_at - *refused_at, 2000);
}

TEST_F(GenerationJobTest, RetryAfterAsHttpDateIsHonouredOnSubmit) {
  GDateTime *later = g_date_time_new_now_utc();
  GDateTime *in_two = g_date_time_add_seconds(later, 3);
  char *date = soup_date_time_to_string(in_two, SOUP_DATE_HTTP);
  server_->add_faults(std::string(R"([{"match":"submit","status":429,"retry_after":")") + date +
                      R"("}])");
  g_free(date);
  g_date_time_unref(in_two);
  g_date_time_unref(later);
  RecordingEvents events;
  size_t log_before = read_log(*server_).size();
  GenerationJob job(config(), request("retry after date"), events);
  JobResult result = job.run();
  EXPECT_EQ(result.output.state, TaskState::Succeeded);
  std::vector<LogEntry> log = read_log(*server_);
  log.erase(log.begin(), log.begin() + static_cast<long>(log_before));
  std::vector<int64_t> posts;
  for (const LogEntry &line : log)
    if (line.event.empty() && line.method == "POST") posts.push_back(line.received_ms);
  ASSERT_EQ(posts.size(), 2u);  // the 429 was not a charge: repeating it is safe
  // The date has one-second resolution: at least 2 s of the 3 remain.
  EXPECT_GE(posts[1] - posts[0], 1900);
}

TEST_F(GenerationJobTest, StatusFailingThreeTimesIsRetriedWithGrowingBackoff) {
  server_->add_faults(R"([{"match":"status","status":503,"times":3}])");
  RecordingEvents events;
  size_t log_before = read_log(*server_).size();
  GenerationJob job(config(), request("503 three times"), events);
  JobResult result = job.run();
  EXPECT_EQ(result.output.state, TaskState::Succeeded);
  std::vector<LogEntry> log = read_log(*server_);
  log.erase(log.begin(), log.begin() + static_cast<long>(log_before));
  std::vector<LogEntry> polls;
  for (const LogEntry &line : log)
    if (line.event.empty() && line.method == "GET" && line.path.rfind("/api/v1/status/", 0) == 0)
      polls.push_back(line);
  ASSERT_GE(polls.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(polls[i].status, 503);
  EXPECT_EQ(polls[3].status, 200);
  // Backoff 250 ms doubling, jitter down to half: the third wait is at least 500 ms, longer
  // than the 100 ms poll interval.
  EXPECT_GE(polls[3].received_ms - polls[2].received_ms, 500);
}

TEST_F(GenerationJobTest, StatusErrorsBeyondTheRetryBudgetFail) {
  server_->add_faults(R"([{"match":"status","status":503,"times":-1}])");
  RecordingEvents events;
  ClientConfig few = config();
  few.retries = 2;
  GenerationJob job(few, request("503 forever"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Failed);
  EXPECT_EQ(error.http_status, 503);
  EXPECT_FALSE(error.task_id.empty());
}

TEST_F(GenerationJobTest, TimeoutDuringRetriesTellsWhatTheServiceSaidLast) {
  server_->add_faults(
      R"([{"match":"status","status":503,"times":-1,"body":"{\"detail\":\"upstream exploded\"}"}])");
  RecordingEvents events;
  ClientConfig patient = config();
  patient.retries = 1000;
  patient.timeout_s = 2;
  GenerationJob job(patient, request("503 until the timeout"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Timeout);
  EXPECT_EQ(error.http_status, 503);
  EXPECT_EQ(error.service_message, "upstream exploded");
  EXPECT_FALSE(error.task_id.empty());
  std::string message = error.what();
  EXPECT_NE(message.find("timeout of 2 s"), std::string::npos) << message;
  EXPECT_NE(message.find("upstream exploded"), std::string::npos) << message;
}

TEST_F(GenerationJobTest, RateLimitedSubmitIsRepeatedThenEndsBusy) {
  server_->add_faults(R"([{"match":"submit","status":429,"times":-1}])");
  ClientConfig few = config();
  few.retries = 1;
  RecordingEvents events;
  size_t posts_before = count_submits(*server_);
  GenerationJob job(few, request("rate limited"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Busy);
  EXPECT_EQ(error.http_status, 429);
  // A 429 is a refusal before any work: one repeat is what retries=1 allows.
  EXPECT_EQ(count_submits(*server_), posts_before + 2);
}

TEST_F(GenerationJobTest, CancelBeforeRunMakesNoRequest) {
  size_t log_size = read_log(*server_).size();
  RecordingEvents events;
  GenerationJob job(config(), request("cancelled early"), events);
  job.cancel();
  job.cancel();
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Cancelled);
  EXPECT_EQ(events.submits, 0);
  EXPECT_EQ(read_log(*server_).size(), log_size);
}

TEST_F(GenerationJobTest, SubmitCutAfterSendingIsNotResent) {
  server_->add_faults(R"([{"match":"submit","drop_connection":true}])");
  RecordingEvents events;
  size_t posts_before = count_submits(*server_);
  GenerationJob job(config(), request("cut submit"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Read);
  EXPECT_EQ(count_submits(*server_), posts_before + 1);
}

TEST_F(GenerationJobTest, SubmitWhoseAnswerNeverComesIsNotResent) {
  // The service took the request (headers sent) and then went silent: the read times out. The
  // task may exist and be billed, so the POST is never repeated, whatever `retries` allows.
  server_->add_faults(R"([{"match":"submit","stall_after_headers":true}])");
  ClientConfig impatient = config();
  impatient.read_timeout_s = 1;
  impatient.retries = 5;
  RecordingEvents events;
  size_t posts_before = count_submits(*server_);
  GenerationJob job(impatient, request("silent submit"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Read);
  EXPECT_NE(std::string(error.what()).find("not sent again"), std::string::npos) << error.what();
  EXPECT_EQ(count_submits(*server_), posts_before + 1);
}

TEST_F(GenerationJobTest, FailedTaskMapsToFailedWithTheServiceMessage) {
  server_->add_faults(R"([{"match":"submit","task_outcome":"failed"}])");
  RecordingEvents events;
  GenerationJob job(config(), request("failing task"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Failed);
  EXPECT_FALSE(error.task_id.empty());
  EXPECT_EQ(error.state, "failed");
  EXPECT_FALSE(error.service_message.empty());
  EXPECT_NE(std::string(error.what()).find(error.service_message), std::string::npos);
}

TEST_F(GenerationJobTest, TolerantStatesAndUnreadableAnswersAreSurvived) {
  server_->add_faults(
      R"([{"match":"status","state_field":"status","state_text":"Processing","times":2},
          {"match":"status","malformed_json":true},
          {"match":"status","html":true}])");
  RecordingEvents events;
  GenerationJob job(config(), request("tolerant states"), events);
  JobResult result = job.run();
  EXPECT_EQ(result.output.state, TaskState::Succeeded);
}

TEST_F(GenerationJobTest, AttachingFollowsTheTaskWithoutSubmitting) {
  std::string body;
  ASSERT_EQ(server_->post_json(kSubmitPath,
                               R"({"prompt":"attach me","duration":4,"resolution":"480p",)"
                               R"("generate_audio":false,"sync":false})",
                               kKey, &body),
            200);
  size_t posts_before = count_submits(*server_);
  TaskOutput submitted = see2ai::parse_task_output(body);
  RecordingEvents events;
  GenerationJob job(config(), request("unrelated prompt"), events);
  job.set_attach_task_id(submitted.task_id);
  JobResult result = job.run();
  EXPECT_EQ(result.output.task_id, submitted.task_id);
  EXPECT_EQ(result.output.state, TaskState::Succeeded);
  EXPECT_EQ(count_submits(*server_), posts_before);
  EXPECT_EQ(events.submits, 0);
  ASSERT_EQ(events.task_ids.size(), 1u);
  EXPECT_TRUE(events.task_ids[0].second);
}

TEST_F(GenerationJobTest, CacheReuseServesTheSecondRunWithoutAnyRequest) {
  std::string dir = make_temp_dir("job-cache");
  RecordingEvents first_events;
  GenerationJob first(config(), request("cache reuse"), first_events);
  first.set_cache(dir, CacheMode::Reuse);
  JobResult made = first.run();
  ASSERT_FALSE(made.from_cache);

  size_t log_size = read_log(*server_).size();
  RecordingEvents events;
  GenerationJob second(config(), request("cache reuse"), events);
  second.set_cache(dir, CacheMode::Reuse);
  JobResult reused = second.run();
  EXPECT_TRUE(reused.from_cache);
  EXPECT_EQ(reused.output.task_id, made.output.task_id);
  EXPECT_EQ(reused.output.total_tokens, made.output.total_tokens);
  ASSERT_EQ(reused.files.size(), 1u);
  EXPECT_TRUE(reused.files[0]->complete());
  EXPECT_EQ(read_whole(reused.files[0]->path()), read_whole(made.files[0]->path()));
  EXPECT_EQ(read_log(*server_).size(), log_size);
  EXPECT_TRUE(first_events.cache_hits.empty());
  EXPECT_EQ(events.cache_hits, std::vector<std::string>{made.output.task_id});
  ASSERT_EQ(events.states.size(), 1u);
  EXPECT_EQ(events.states[0], TaskState::Succeeded);
  ASSERT_EQ(events.started.size(), 1u);
  EXPECT_EQ(events.started[0].second, reused.files[0]);
}

TEST_F(GenerationJobTest, CacheRefreshGeneratesAnew) {
  std::string dir = make_temp_dir("job-refresh");
  RecordingEvents first_events;
  GenerationJob first(config(), request("cache refresh"), first_events);
  first.set_cache(dir, CacheMode::Reuse);
  JobResult made = first.run();

  size_t posts_before = count_submits(*server_);
  RecordingEvents events;
  GenerationJob second(config(), request("cache refresh"), events);
  second.set_cache(dir, CacheMode::Refresh);
  JobResult fresh = second.run();
  EXPECT_FALSE(fresh.from_cache);
  EXPECT_NE(fresh.output.task_id, made.output.task_id);
  EXPECT_EQ(count_submits(*server_), posts_before + 1);

  RecordingEvents third_events;
  GenerationJob third(config(), request("cache refresh"), third_events);
  third.set_cache(dir, CacheMode::Reuse);
  EXPECT_EQ(third.run().output.task_id, fresh.output.task_id);
}

TEST_F(GenerationJobTest, SecondRunOfTheSameRequestAtOnceWaitsAndPaysNothing) {
  std::string dir = make_temp_dir("job-twins");
  size_t posts_before = count_submits(*server_);
  RecordingEvents first_events;
  GenerationJob first(config(), request("twins"), first_events);
  first.set_cache(dir, CacheMode::Reuse);
  std::future<JobResult> made = std::async(std::launch::async, [&] { return first.run(); });
  // The first run holds the request's key from before its lookup until its clip is stored.
  ASSERT_TRUE(first_events.wait_for([&] { return !first_events.task_ids.empty(); }));

  RecordingEvents events;
  GenerationJob second(config(), request("twins"), events);
  second.set_cache(dir, CacheMode::Reuse);
  JobResult twin = second.run();
  JobResult original = made.get();
  EXPECT_FALSE(original.from_cache);
  EXPECT_TRUE(twin.from_cache);
  EXPECT_EQ(twin.output.task_id, original.output.task_id);
  EXPECT_EQ(events.waits, 1);
  EXPECT_EQ(first_events.waits, 0);
  EXPECT_EQ(events.submits, 0);
  EXPECT_EQ(count_submits(*server_), posts_before + 1);
  ASSERT_EQ(twin.files.size(), 1u);
  EXPECT_EQ(read_whole(twin.files[0]->path()), read_whole(original.files[0]->path()));
}

TEST_F(GenerationJobTest, RunWaitingForAnotherRunOfItsRequestIsCancelledPromptly) {
  std::string dir = make_temp_dir("job-claimed");
  GenerationRequest claimed = request("claimed elsewhere");
  ClipCache cache(dir, see2ai::cache_key(claimed, server_->url()));
  cache.prepare();
  // Another process's claim on the key, as far as flock(2) can tell: another open file.
  std::unique_ptr<KeyLock> other = cache.key_lock();
  ASSERT_TRUE(other->try_acquire());

  size_t posts_before = count_submits(*server_);
  RecordingEvents events;
  GenerationJob job(config(), claimed, events);
  job.set_cache(dir, CacheMode::Reuse);
  std::thread canceller([&] {
    events.wait_for([&] { return events.waits > 0; });
    job.cancel();
  });
  auto started = std::chrono::steady_clock::now();
  ServiceError error = run_expecting_error(job);
  canceller.join();
  EXPECT_EQ(error.kind, ErrorKind::Cancelled);
  EXPECT_EQ(events.waits, 1);
  EXPECT_EQ(events.submits, 0);
  EXPECT_EQ(count_submits(*server_), posts_before);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));

  // Released, the key is free for the next run, which generates the clip.
  other.reset();
  RecordingEvents next_events;
  GenerationJob next(config(), claimed, next_events);
  next.set_cache(dir, CacheMode::Reuse);
  EXPECT_FALSE(next.run().from_cache);
  EXPECT_EQ(next_events.waits, 0);
  EXPECT_EQ(count_submits(*server_), posts_before + 1);
}

bool journal_is_empty(const std::string &dir) {
  GDir *journal = g_dir_open((dir + "/journal").c_str(), 0, nullptr);
  if (!journal) return true;
  bool empty = g_dir_read_name(journal) == nullptr;
  g_dir_close(journal);
  return empty;
}

TEST_F(GenerationJobTest, JournalOfADeadRunIsReattachedWithoutASecondSubmit) {
  std::string dir = make_temp_dir("job-journal");
  ClientConfig slow = config();
  slow.poll_interval_ms = 200;
  RecordingEvents first_events;
  std::string task_id;
  {
    GenerationJob first(slow, request("journal"), first_events);
    first.set_cache(dir, CacheMode::Reuse);
    std::thread canceller([&] {
      first_events.wait_for([&] { return !first_events.task_ids.empty(); });
      first.cancel();
    });
    ServiceError error = run_expecting_error(first);
    canceller.join();
    EXPECT_EQ(error.kind, ErrorKind::Cancelled);
    ASSERT_EQ(first_events.task_ids.size(), 1u);
    task_id = first_events.task_ids[0].first;
  }
  size_t posts_before = count_submits(*server_);
  RecordingEvents events;
  GenerationJob second(slow, request("journal"), events);
  second.set_cache(dir, CacheMode::Reuse);
  JobResult result = second.run();
  EXPECT_EQ(result.output.task_id, task_id);
  EXPECT_FALSE(result.from_cache);
  ASSERT_EQ(events.task_ids.size(), 1u);
  EXPECT_EQ(events.task_ids[0], std::make_pair(task_id, true));
  EXPECT_EQ(events.submits, 0);
  EXPECT_EQ(count_submits(*server_), posts_before);
  // The clip is in the cache now: the journal entry is gone, the next run reuses.
  EXPECT_TRUE(journal_is_empty(dir));
}

TEST_F(GenerationJobTest, FailedDownloadKeepsTheJournalSoTheNextRunDownloadsWithoutPaying) {
  std::string dir = make_temp_dir("job-download-failed");
  server_->add_faults(R"([{"match":"download","status":503,"times":-1}])");
  ClientConfig few = config();
  few.retries = 1;
  {
    RecordingEvents events;
    GenerationJob job(few, request("download fails once"), events);
    job.set_cache(dir, CacheMode::Reuse);
    ServiceError error = run_expecting_error(job);
    EXPECT_EQ(error.kind, ErrorKind::Failed);
    EXPECT_EQ(error.http_status, 503);
  }
  EXPECT_FALSE(journal_is_empty(dir));
  ClearFaults();
  size_t posts_before = count_submits(*server_);
  RecordingEvents events;
  GenerationJob job(few, request("download fails once"), events);
  job.set_cache(dir, CacheMode::Reuse);
  JobResult result = job.run();
  EXPECT_EQ(count_submits(*server_), posts_before);
  ASSERT_EQ(result.files.size(), 1u);
  EXPECT_EQ(read_whole(result.files[0]->path()), served_bytes(result.output.result_urls[0]));
  EXPECT_TRUE(journal_is_empty(dir));
}

TEST_F(GenerationJobTest, ResultsThatAreGoneEndTheJournalEntry) {
  std::string dir = make_temp_dir("job-gone");
  server_->add_faults(R"([{"match":"download","status":404,"body":"gone","times":-1}])");
  RecordingEvents events;
  GenerationJob job(config(), request("results gone"), events);
  job.set_cache(dir, CacheMode::Reuse);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Failed);
  EXPECT_EQ(error.http_status, 404);
  EXPECT_TRUE(journal_is_empty(dir));
}

TEST_F(GenerationJobTest, CorruptJournalAndCacheEntriesAreIgnoredWithWarnings) {
  std::string dir = make_temp_dir("job-corrupt");
  GenerationRequest corrupt = request("corrupt entries");
  std::string key = see2ai::cache_key(corrupt, server_->url());
  g_mkdir_with_parents((dir + "/journal").c_str(), 0700);
  g_mkdir_with_parents((dir + "/clips").c_str(), 0700);
  ASSERT_TRUE(g_file_set_contents((dir + "/journal/" + key + ".json").c_str(), "{\"task_id\": 4",
                                  -1, nullptr));
  ASSERT_TRUE(
      g_file_set_contents((dir + "/clips/" + key + ".json").c_str(), "\xff not json", -1, nullptr));
  size_t posts_before = count_submits(*server_);
  RecordingEvents events;
  GenerationJob job(config(), corrupt, events);
  job.set_cache(dir, CacheMode::Reuse);
  JobResult result = job.run();
  EXPECT_EQ(result.output.state, TaskState::Succeeded);
  EXPECT_EQ(count_submits(*server_), posts_before + 1);
  bool journal_warned = false, cache_warned = false;
  for (const std::string &warning : events.warnings) {
    journal_warned |= warning.find("journal") != std::string::npos;
    cache_warned |= warning.find("cache") != std::string::npos;
  }
  EXPECT_TRUE(journal_warned);
  EXPECT_TRUE(cache_warned);
}

TEST_F(GenerationJobTest, CutDownloadIsResumedWithRangeToAnIdenticalFile) {
  server_->add_faults(R"([{"match":"download","cut_at":20000}])");
  RecordingEvents events;
  size_t log_before = read_log(*server_).size();
  GenerationJob job(config(), request("cut download"), events);
  JobResult result = job.run();
  ASSERT_EQ(result.files.size(), 1u);
  EXPECT_EQ(read_whole(result.files[0]->path()), served_bytes(result.output.result_urls[0]));
  std::vector<LogEntry> log = read_log(*server_);
  log.erase(log.begin(), log.begin() + static_cast<long>(log_before));
  bool resumed = false;
  for (const LogEntry &line : log)
    resumed |=
        line.path.rfind("/files/", 0) == 0 && line.range == "bytes=20000-" && line.status == 206;
  EXPECT_TRUE(resumed);
}

TEST_F(GenerationJobTest, ResultHostBehindARedirectNeverSeesTheKey) {
  SeenRequests seen;
  const std::string clip = small_clip("elsewhere");
  LoopbackServer result_host([&](SoupServerMessage *message) {
    seen.record(message);
    soup_server_message_set_response(message, "video/mp4", SOUP_MEMORY_COPY, clip.data(),
                                     clip.size());
    soup_server_message_set_status(message, 200, nullptr);
  });
  server_->add_faults(std::string(R"([{"match":"download","redirect_to":")") + result_host.url() +
                      R"(/elsewhere/clip.mp4"}])");
  RecordingEvents events;
  size_t log_before = read_log(*server_).size();
  GenerationJob job(config(), request("redirected download"), events);
  JobResult result = job.run();
  ASSERT_EQ(result.files.size(), 1u);
  EXPECT_EQ(read_whole(result.files[0]->path()), clip);
  EXPECT_EQ(seen.count(), 1u);
  EXPECT_FALSE(seen.any_authorization());
  // The service itself got the key on its API paths only.
  std::vector<LogEntry> log = read_log(*server_);
  log.erase(log.begin(), log.begin() + static_cast<long>(log_before));
  EXPECT_GE(count_requests(log, "POST", kSubmitPath), 1u);
}

TEST_F(GenerationJobTest, OverallTimeoutEndsTheJobNamingTheTask) {
  DevServerArgs args;
  args.keys = {std::string(kKey) + ":100000000"};
  args.latency_ms = 20000;
  DevServerProcess slow_server(args);
  ClientConfig short_deadline = config();
  short_deadline.api_url = slow_server.url();
  short_deadline.timeout_s = 1;
  RecordingEvents events;
  GenerationJob job(short_deadline, request("timeout"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Timeout);
  ASSERT_FALSE(error.task_id.empty());
  EXPECT_NE(std::string(error.what()).find(error.task_id), std::string::npos) << error.what();
}

TEST_F(GenerationJobTest, CancelDuringGenerationEndsTheRunBeforeTheTaskEnds) {
  DevServerArgs args;
  args.keys = {std::string(kKey) + ":100000000"};
  args.latency_ms = 20000;
  DevServerProcess slow_server(args);
  ClientConfig slow = config();
  slow.api_url = slow_server.url();
  slow.poll_interval_ms = 10000;
  RecordingEvents events;
  GenerationJob job(slow, request("cancel"), events);
  std::thread canceller([&] {
    events.wait_for([&] { return !events.states.empty(); });
    job.cancel();
  });
  auto started = std::chrono::steady_clock::now();
  ServiceError error = run_expecting_error(job);
  canceller.join();
  EXPECT_EQ(error.kind, ErrorKind::Cancelled);
  // Causal, not a speed goal: the task needs 20 s and the next poll is 10 s away.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(8));
  for (const LogEntry &line : read_log(slow_server)) EXPECT_NE(line.state, "succeeded");
}

TEST_F(GenerationJobTest, ExpiredAndCancelledTasksMapToFailed) {
  for (const char *outcome : {"expired", "cancelled"}) {
    server_->add_faults(std::string(R"([{"match":"submit","task_outcome":")") + outcome + R"("}])");
    RecordingEvents events;
    GenerationJob job(config(), request(std::string("outcome ") + outcome), events);
    ServiceError error = run_expecting_error(job);
    EXPECT_EQ(error.kind, ErrorKind::Failed) << outcome;
    EXPECT_EQ(error.state, outcome);
    EXPECT_NE(std::string(error.what()).find(outcome), std::string::npos) << error.what();
  }
}

TEST_F(GenerationJobTest, OversizedAndInvalidUtf8StatusAnswersAreRetried) {
  server_->add_faults(R"([{"match":"status","huge_body_bytes":10000000},
                          {"match":"status","invalid_utf8":true}])");
  RecordingEvents events;
  GenerationJob job(config(), request("garbled status"), events);
  EXPECT_EQ(job.run().output.state, TaskState::Succeeded);
}

TEST_F(GenerationJobTest, HtmlInsteadOfTheClipIsBadMediaBeforeAnyPlayback) {
  server_->add_faults(R"([{"match":"download","html":true,"times":-1}])");
  RecordingEvents events;
  GenerationJob job(config(), request("html download"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::BadMedia);
  EXPECT_NE(std::string(error.what()).find("HTML"), std::string::npos) << error.what();
  EXPECT_TRUE(events.started.empty());
}

TEST_F(GenerationJobTest, SilentDownloadIsRetriedAfterTheReadTimeout) {
  server_->add_faults(R"([{"match":"download","stall_after_headers":true}])");
  ClientConfig impatient = config();
  impatient.read_timeout_s = 1;
  RecordingEvents events;
  GenerationJob job(impatient, request("stalled once"), events);
  JobResult result = job.run();
  ASSERT_EQ(result.files.size(), 1u);
  EXPECT_EQ(read_whole(result.files[0]->path()), served_bytes(result.output.result_urls[0]));
}

TEST_F(GenerationJobTest, StalledDownloadFailsByTheOverallDeadline) {
  server_->add_faults(R"([{"match":"download","stall_after_headers":true,"times":-1}])");
  ClientConfig deadline = config();
  // Room for rendering the clip on a busy machine, so that the deadline falls in the download.
  deadline.timeout_s = 4;
  deadline.read_timeout_s = 30;
  RecordingEvents events;
  GenerationJob job(deadline, request("stalled forever"), events);
  auto started = std::chrono::steady_clock::now();
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Timeout);
  // A stalled download fails within the timeout + 1 s, not after the 30 s read timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  ASSERT_EQ(events.started.size(), 1u);
  EXPECT_FALSE(events.started[0].second->wait_complete());
}

TEST_F(GenerationJobTest, CancelDuringTheDownloadStopsItAndFailsTheFile) {
  server_->add_faults(R"([{"match":"download","rate":20000}])");
  RecordingEvents events;
  GenerationJob job(config(), request("cancel download"), events);
  std::thread canceller([&] {
    events.wait_for([&] { return !events.started.empty(); });
    job.cancel();
  });
  ServiceError error = run_expecting_error(job);
  canceller.join();
  EXPECT_EQ(error.kind, ErrorKind::Cancelled);
  ASSERT_EQ(events.started.size(), 1u);
  EXPECT_FALSE(events.started[0].second->complete());
}

TEST_F(GenerationJobTest, CancelWhileAStatusAnswerStallsIsPrompt) {
  server_->add_faults(R"([{"match":"status","stall_after_headers":true}])");
  ClientConfig patient = config();
  patient.read_timeout_s = 30;
  RecordingEvents events;
  GenerationJob job(patient, request("cancel stalled poll"), events);
  std::thread canceller([&] {
    events.wait_for([&] { return !events.states.empty(); });
    // The first poll is the stalled one: wait until the server has answered its headers.
    for (int i = 0; i < 600; ++i) {
      bool stalled = false;
      for (const LogEntry &line : read_log(*server_))
        stalled |=
            line.path.rfind("/api/v1/status/", 0) == 0 && line.task_id == events.task_ids[0].first;
      if (stalled) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    job.cancel();
  });
  auto started = std::chrono::steady_clock::now();
  ServiceError error = run_expecting_error(job);
  canceller.join();
  EXPECT_EQ(error.kind, ErrorKind::Cancelled);
  // Causal: the stalled read would otherwise last the 30 s read timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST_F(GenerationJobTest, CancelDuringASyncSubmitIsPromptAndNotRepeated) {
  DevServerArgs args;
  args.keys = {std::string(kKey) + ":100000000"};
  args.latency_ms = 20000;
  DevServerProcess slow_server(args);
  ClientConfig slow = config();
  slow.api_url = slow_server.url();
  GenerationRequest sync_request = request("cancel sync submit");
  sync_request.sync = true;
  RecordingEvents events;
  GenerationJob job(slow, sync_request, events);
  std::thread canceller([&] {
    events.wait_for([&] { return events.submits > 0; });
    // Wait until the service holds the POST (its task's first state event is logged).
    for (int i = 0; i < 600; ++i) {
      bool held = false;
      for (const LogEntry &line : read_log(slow_server)) held |= line.event == "state";
      if (held) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    job.cancel();
  });
  auto started = std::chrono::steady_clock::now();
  ServiceError error = run_expecting_error(job);
  canceller.join();
  EXPECT_EQ(error.kind, ErrorKind::Cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  EXPECT_LE(count_requests(read_log(slow_server), "POST", kSubmitPath), 1u);
}

TEST_F(GenerationJobTest, JournalTaskUnknownToTheServiceIsDroppedAndSubmittedAnew) {
  std::string dir = make_temp_dir("job-unknown");
  GenerationRequest unknown = request("unknown journal task");
  std::string key = see2ai::cache_key(unknown, server_->url());
  g_mkdir_with_parents((dir + "/journal").c_str(), 0700);
  ASSERT_TRUE(g_file_set_contents((dir + "/journal/" + key + ".json").c_str(),
                                  R"({"task_id":"no-such-task"})", -1, nullptr));
  size_t posts_before = count_submits(*server_);
  RecordingEvents events;
  GenerationJob job(config(), unknown, events);
  job.set_cache(dir, CacheMode::Reuse);
  JobResult result = job.run();
  EXPECT_NE(result.output.task_id, "no-such-task");
  EXPECT_EQ(count_submits(*server_), posts_before + 1);
  ASSERT_FALSE(events.warnings.empty());
  EXPECT_NE(events.warnings[0].find("no-such-task"), std::string::npos);
}

TEST_F(GenerationJobTest, WithoutACacheTheClipIsATemporaryFileGoneWithItsLastReference) {
  std::string path;
  {
    RecordingEvents events;
    GenerationJob job(config(), request("temporary clip"), events);
    JobResult result = job.run();
    ASSERT_EQ(result.files.size(), 1u);
    path = result.files[0]->path();
    EXPECT_TRUE(g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR));
  }
  EXPECT_FALSE(g_file_test(path.c_str(), G_FILE_TEST_EXISTS));
}

// ---- only whole clips are kept, nothing is paid twice ----

// The clip files in a cache directory (partial or whole).
std::vector<std::string> clip_files(const std::string &dir) {
  std::vector<std::string> names;
  GDir *clips = g_dir_open((dir + "/clips").c_str(), 0, nullptr);
  if (!clips) return names;
  while (const char *name = g_dir_read_name(clips))
    if (g_str_has_suffix(name, ".mp4")) names.emplace_back(name);
  g_dir_close(clips);
  return names;
}

std::string entry_file(const std::string &dir, const GenerationRequest &request,
                       const std::string &api_url) {
  return dir + "/clips/" + see2ai::cache_key(request, api_url) + ".json";
}

// Tasks the dev server created (each one is billed when it succeeds).
int count_submit_events(DevServerProcess &server) {
  int count = 0;
  for (const LogEntry &line : read_log(server)) count += line.event == "submit";
  return count;
}

bool mentions(const std::string &text, const std::string &what) {
  return text.find(what) != std::string::npos;
}

struct CutCase {
  const char *name;
  const char *forever;  // a rule that cuts every answer
  const char *once;     // the same cut, once
  const char *resumed;  // the Range of the attempt after the cut; empty: from the start
};

class CutDownloadTest : public GenerationJobTest, public ::testing::WithParamInterface<CutCase> {};

TEST_P(CutDownloadTest, IsNeverCachedAndTheNextRunFetchesTheWholeClipWithoutPaying) {
  std::string dir = make_temp_dir("job-cut");
  GenerationRequest cut = request(std::string("cut and never cached: ") + GetParam().name);
  int submits_before = count_submit_events(*server_);
  server_->add_faults(GetParam().forever);
  ClientConfig no_retries = config();
  no_retries.retries = 0;
  {
    RecordingEvents events;
    GenerationJob job(no_retries, cut, events);
    job.set_cache(dir, CacheMode::Reuse);
    ServiceError error = run_expecting_error(job);
    EXPECT_EQ(error.kind, ErrorKind::Read) << error.what();
  }
  // Nothing of the cut clip stays, but the task does: the next run takes it up.
  EXPECT_TRUE(clip_files(dir).empty());
  EXPECT_FALSE(g_file_test(entry_file(dir, cut, server_->url()).c_str(), G_FILE_TEST_EXISTS));
  EXPECT_FALSE(journal_is_empty(dir));

  ClearFaults();
  RecordingEvents events;
  GenerationJob again(config(), cut, events);
  again.set_cache(dir, CacheMode::Reuse);
  JobResult result = again.run();
  EXPECT_FALSE(result.from_cache);
  ASSERT_EQ(result.files.size(), 1u);
  EXPECT_EQ(read_whole(result.files[0]->path()), served_bytes(result.output.result_urls[0]));
  EXPECT_EQ(events.submits, 0);

  RecordingEvents third_events;
  GenerationJob third(config(), cut, third_events);
  third.set_cache(dir, CacheMode::Reuse);
  JobResult reused = third.run();
  EXPECT_TRUE(reused.from_cache);
  ASSERT_EQ(reused.files.size(), 1u);
  EXPECT_EQ(read_whole(reused.files[0]->path()), served_bytes(result.output.result_urls[0]));
  EXPECT_EQ(count_submit_events(*server_), submits_before + 1);
}

TEST_P(CutDownloadTest, IsTakenUpAgainWithinTheRun) {
  std::string dir = make_temp_dir("job-cut-once");
  server_->add_faults(GetParam().once);
  size_t log_before = read_log(*server_).size();
  RecordingEvents events;
  GenerationJob job(config(), request(std::string("cut once: ") + GetParam().name), events);
  job.set_cache(dir, CacheMode::Reuse);
  JobResult result = job.run();
  std::vector<LogEntry> log = read_log(*server_);
  log.erase(log.begin(), log.begin() + static_cast<long>(log_before));
  ASSERT_EQ(result.files.size(), 1u);
  EXPECT_EQ(read_whole(result.files[0]->path()), served_bytes(result.output.result_urls[0]));
  std::vector<LogEntry> downloads;
  for (const LogEntry &line : log)
    if (line.event.empty() && line.path.rfind("/files/", 0) == 0) downloads.push_back(line);
  ASSERT_EQ(downloads.size(), 2u);
  EXPECT_EQ(downloads[1].range, GetParam().resumed);
}

INSTANTIATE_TEST_SUITE_P(
    Framings, CutDownloadTest,
    ::testing::Values(
        // Chunks up to the cut, then the connection closes without the last, empty chunk.
        CutCase{"chunked", R"([{"match":"download","chunked":true,"cut_at":20000,"times":-1}])",
                R"([{"match":"download","chunked":true,"cut_at":20000}])", "bytes=20000-"},
        // No length at all: the close is the end, and it comes early.
        CutCase{"no_length", R"([{"match":"download","no_length":true,"cut_at":20000,"times":-1}])",
                R"([{"match":"download","no_length":true,"cut_at":20000}])", "bytes=20000-"},
        // Compressed: offsets in it are no file offsets, so it starts over.
        CutCase{"gzip", R"([{"match":"download","gzip":true,"cut_at":5000,"times":-1}])",
                R"([{"match":"download","gzip":true,"cut_at":5000}])", ""}),
    [](const ::testing::TestParamInfo<CutCase> &info) { return std::string(info.param.name); });

TEST_F(GenerationJobTest, GzipEncodedClipIsStoredAsTheClipItself) {
  std::string dir = make_temp_dir("job-gzip");
  server_->add_faults(R"([{"match":"download","gzip":true}])");
  RecordingEvents events;
  GenerationJob job(config(), request("gzip encoded"), events);
  job.set_cache(dir, CacheMode::Reuse);
  JobResult result = job.run();
  ASSERT_EQ(result.files.size(), 1u);
  const std::string served = served_bytes(result.output.result_urls[0]);
  EXPECT_EQ(read_whole(result.files[0]->path()), served);
  RecordingEvents again_events;
  GenerationJob again(config(), request("gzip encoded"), again_events);
  again.set_cache(dir, CacheMode::Reuse);
  JobResult reused = again.run();
  EXPECT_TRUE(reused.from_cache);
  EXPECT_EQ(read_whole(reused.files[0]->path()), served);
}

enum class Damage { Truncated, Garbage, Missing, NoUrls };

class DamagedCacheTest : public GenerationJobTest, public ::testing::WithParamInterface<Damage> {
 public:
  static const char *name(Damage damage) {
    switch (damage) {
      case Damage::Truncated:
        return "truncated";
      case Damage::Garbage:
        return "garbage";
      case Damage::Missing:
        return "missing";
      case Damage::NoUrls:
        return "no_urls";
    }
    return "";
  }

 protected:
  // A cached clip of `wanted`, then damaged.
  static JobResult cache_then_damage(const std::string &dir, const GenerationRequest &wanted,
                                     Damage damage) {
    RecordingEvents events;
    GenerationJob job(config(), wanted, events);
    job.set_cache(dir, CacheMode::Reuse);
    JobResult made = job.run();
    const std::string clip = dir + "/clips/" + see2ai::cache_key(wanted, server_->url()) + "-0.mp4";
    const std::string bytes = read_whole(clip);
    EXPECT_GT(bytes.size(), 1000u);
    switch (damage) {
      case Damage::Truncated:
        EXPECT_EQ(truncate(clip.c_str(), static_cast<off_t>(bytes.size() / 2)), 0);
        break;
      case Damage::Garbage:
        EXPECT_TRUE(g_file_set_contents(clip.c_str(), std::string(bytes.size(), 'Z').c_str(),
                                        static_cast<gssize>(bytes.size()), nullptr));
        break;
      case Damage::Missing:
        EXPECT_EQ(g_remove(clip.c_str()), 0);
        break;
      case Damage::NoUrls: {
        TaskOutput listed_nothing = made.output;
        listed_nothing.result_urls.clear();
        const std::string entry = see2ai::to_json(listed_nothing);
        EXPECT_TRUE(g_file_set_contents(entry_file(dir, wanted, server_->url()).c_str(),
                                        entry.c_str(), -1, nullptr));
        break;
      }
    }
    return made;
  }
};

TEST_P(DamagedCacheTest, IsFetchedAgainFromItsTaskWithoutASubmit) {
  std::string dir = make_temp_dir("job-damaged");
  GenerationRequest wanted = request(std::string("damaged cache: ") + name(GetParam()));
  JobResult made = cache_then_damage(dir, wanted, GetParam());
  int submits_before = count_submit_events(*server_);

  RecordingEvents events;
  GenerationJob job(config(), wanted, events);
  job.set_cache(dir, CacheMode::Reuse);
  JobResult result = job.run();
  EXPECT_FALSE(result.from_cache);
  EXPECT_EQ(result.output.task_id, made.output.task_id);
  ASSERT_EQ(result.files.size(), 1u);
  EXPECT_EQ(read_whole(result.files[0]->path()), served_bytes(made.output.result_urls[0]));
  EXPECT_EQ(events.submits, 0);
  ASSERT_EQ(events.task_ids.size(), 1u);
  EXPECT_EQ(events.task_ids[0], std::make_pair(made.output.task_id, true));
  EXPECT_TRUE(std::any_of(events.warnings.begin(), events.warnings.end(), [&](const auto &w) {
    return mentions(w, "fetched again from task " + made.output.task_id);
  })) << (events.warnings.empty() ? "no warning" : events.warnings[0]);
  EXPECT_EQ(count_submit_events(*server_), submits_before);

  // Whole again: the next run plays it from the cache.
  RecordingEvents third_events;
  GenerationJob third(config(), wanted, third_events);
  third.set_cache(dir, CacheMode::Reuse);
  EXPECT_TRUE(third.run().from_cache);
}

INSTANTIATE_TEST_SUITE_P(Damages, DamagedCacheTest,
                         ::testing::Values(Damage::Truncated, Damage::Garbage, Damage::Missing,
                                           Damage::NoUrls),
                         [](const ::testing::TestParamInfo<Damage> &info) {
                           return std::string(DamagedCacheTest::name(info.param));
                         });

TEST_F(DamagedCacheTest, WhoseTaskOrResultIsGoneIsAClearErrorWithoutASubmit) {
  struct Gone {
    const char *rule;
    int http_status;
  };
  const Gone gone[] = {
      {R"([{"match":"download","status":404,"body":"gone","times":-1}])", 404},  // result URL
      {R"([{"match":"status","state_text":"expired","times":-1}])", 200},        // the task
      {R"([{"match":"status","status":404,"times":-1}])", 404},  // the service forgot it
  };
  for (const Gone &case_ : gone) {
    ClearFaults();
    std::string dir = make_temp_dir("job-damaged-gone");
    GenerationRequest wanted = request(std::string("damaged cache, gone: ") + case_.rule);
    cache_then_damage(dir, wanted, Damage::Truncated);
    int submits_before = count_submit_events(*server_);
    server_->add_faults(case_.rule);
    for (int run = 0; run < 2; ++run) {  // the same answer every time: nothing is lost on the way
      RecordingEvents events;
      GenerationJob job(config(), wanted, events);
      job.set_cache(dir, CacheMode::Reuse);
      ServiceError error = run_expecting_error(job);
      EXPECT_EQ(error.kind, ErrorKind::Failed) << case_.rule;
      EXPECT_EQ(error.http_status, case_.http_status) << case_.rule;
      EXPECT_TRUE(mentions(error.what(), "cannot be fetched again")) << error.what();
      EXPECT_TRUE(mentions(error.what(), "cache-mode=refresh")) << error.what();
      EXPECT_EQ(events.submits, 0);
    }
    EXPECT_EQ(count_submit_events(*server_), submits_before) << case_.rule;
  }
}

// A run stopped (killed, or its state changed) while its submit was on its way.
TEST_F(GenerationJobTest, SubmitWithoutAnAnswerStopsTheNextRunFromPayingAgain) {
  std::string dir = make_temp_dir("job-held-submit");
  GenerationRequest held = request("held submit");
  int submits_before = count_submit_events(*server_);
  server_->add_faults(R"([{"match":"submit","hold_ms":60000}])");
  {
    RecordingEvents events;
    GenerationJob job(config(), held, events);
    job.set_cache(dir, CacheMode::Reuse);
    std::thread canceller([&] {
      events.wait_for([&] { return events.submits > 0; });
      // The service has the request and made its task; its answer is held back.
      for (int i = 0; i < 3000 && count_submit_events(*server_) == submits_before; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      job.cancel();
    });
    ServiceError error = run_expecting_error(job);
    canceller.join();
    EXPECT_EQ(error.kind, ErrorKind::Cancelled);
    EXPECT_TRUE(events.task_ids.empty());
  }
  ASSERT_EQ(count_submit_events(*server_), submits_before + 1);
  ClearFaults();
  {
    RecordingEvents events;
    GenerationJob job(config(), held, events);
    job.set_cache(dir, CacheMode::Reuse);
    ServiceError error = run_expecting_error(job);
    EXPECT_EQ(error.kind, ErrorKind::Failed);
    EXPECT_TRUE(mentions(error.what(), "may already have been charged")) << error.what();
    EXPECT_TRUE(mentions(error.what(), "task-id")) << error.what();
    EXPECT_TRUE(mentions(error.what(), "cache-mode=refresh")) << error.what();
    EXPECT_EQ(events.submits, 0);
  }
  EXPECT_EQ(count_submit_events(*server_), submits_before + 1);
  // Refresh is the user's consent to pay again.
  RecordingEvents events;
  GenerationJob job(config(), held, events);
  job.set_cache(dir, CacheMode::Refresh);
  EXPECT_EQ(job.run().output.state, TaskState::Succeeded);
  EXPECT_EQ(events.submits, 1);
  EXPECT_TRUE(std::any_of(events.warnings.begin(), events.warnings.end(), [](const auto &w) {
    return mentions(w, "may already have been charged");
  }));
  EXPECT_EQ(count_submit_events(*server_), submits_before + 2);
  EXPECT_TRUE(journal_is_empty(dir));
}

TEST_F(GenerationJobTest, SyncSubmitStoppedDuringTheGenerationStopsTheNextRunFromPayingAgain) {
  DevServerArgs args;
  args.keys = {std::string(kKey) + ":100000000"};
  args.latency_ms = 20000;
  DevServerProcess slow_server(args);
  ClientConfig slow = config();
  slow.api_url = slow_server.url();
  GenerationRequest sync_request = request("sync submit stopped");
  sync_request.sync = true;
  std::string dir = make_temp_dir("job-sync-stopped");
  {
    RecordingEvents events;
    GenerationJob job(slow, sync_request, events);
    job.set_cache(dir, CacheMode::Reuse);
    std::thread canceller([&] {
      events.wait_for([&] { return events.submits > 0; });
      for (int i = 0; i < 3000 && count_submit_events(slow_server) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      job.cancel();
    });
    EXPECT_EQ(run_expecting_error(job).kind, ErrorKind::Cancelled);
    canceller.join();
  }
  ASSERT_EQ(count_submit_events(slow_server), 1);
  RecordingEvents events;
  GenerationJob job(slow, sync_request, events);
  job.set_cache(dir, CacheMode::Reuse);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Failed);
  EXPECT_TRUE(mentions(error.what(), "may already have been charged")) << error.what();
  EXPECT_EQ(count_submit_events(slow_server), 1);
  EXPECT_EQ(events.submits, 0);
}

TEST_F(GenerationJobTest, SubmitRefusedByTheServiceLeavesNoRecordButA5xxDoes) {
  std::string dir = make_temp_dir("job-refused-submit");
  GenerationRequest refused = request("refused submit");
  ClientConfig few = config();
  few.retries = 1;
  for (const char *rule :
       {R"([{"match":"submit","status":400}])", R"([{"match":"submit","status":429,"times":-1}])",
        R"([{"match":"submit","status":402}])"}) {
    ClearFaults();
    server_->add_faults(rule);
    RecordingEvents events;
    GenerationJob job(few, refused, events);
    job.set_cache(dir, CacheMode::Reuse);
    run_expecting_error(job);
    EXPECT_TRUE(journal_is_empty(dir)) << rule;
  }
  // A gateway's 5xx may hide a task the service took on: the record stays.
  ClearFaults();
  server_->add_faults(R"([{"match":"submit","status":502}])");
  {
    RecordingEvents events;
    GenerationJob job(few, refused, events);
    job.set_cache(dir, CacheMode::Reuse);
    EXPECT_EQ(run_expecting_error(job).http_status, 502);
  }
  EXPECT_FALSE(journal_is_empty(dir));
  RecordingEvents events;
  GenerationJob job(few, refused, events);
  job.set_cache(dir, CacheMode::Reuse);
  EXPECT_TRUE(mentions(run_expecting_error(job).what(), "may already have been charged"));
}

TEST_F(GenerationJobTest, HostIgnoringRangeWithShortBodiesRunsOutOfRetries) {
  std::string dir = make_temp_dir("job-ignores-range");
  server_->add_faults(R"([{"match":"download","ignore_range":true,"cut_at":20000,"times":-1}])");
  ClientConfig two = config();
  two.retries = 2;
  // Without a bound on the retries only the timeout (60 s here) would end it.
  size_t log_before = read_log(*server_).size();
  RecordingEvents events;
  GenerationJob job(two, request("range ignored"), events);
  job.set_cache(dir, CacheMode::Reuse);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Read) << error.what();
  EXPECT_TRUE(mentions(error.what(), "2 retries")) << error.what();
  std::vector<LogEntry> log = read_log(*server_);
  log.erase(log.begin(), log.begin() + static_cast<long>(log_before));
  std::vector<LogEntry> downloads;
  for (const LogEntry &line : log)
    if (line.event.empty() && line.path.rfind("/files/", 0) == 0) downloads.push_back(line);
  // The first attempt, then the two retries that got no further: each asked for the rest and got
  // the same first bytes again.
  ASSERT_EQ(downloads.size(), 3u);
  for (size_t i = 1; i < downloads.size(); ++i) {
    EXPECT_EQ(downloads[i].range, "bytes=20000-") << i;
    EXPECT_EQ(downloads[i].status, 200) << i;
  }
  EXPECT_TRUE(clip_files(dir).empty());
}

TEST_F(GenerationJobTest, EndlessBodyEndsAtTheSizeCapWithNoFileLeft) {
  // Throttled, so that a client without a cap cannot fill the disk before the timeout.
  server_->add_faults(R"([{"match":"download","endless":true,"rate":8000000,"times":-1}])");
  ClientConfig capped = config();
  capped.max_result_bytes = 2 * 1024 * 1024;
  capped.timeout_s = 30;
  for (bool cached : {true, false}) {
    std::string dir = make_temp_dir("job-endless");
    RecordingEvents events;
    GenerationJob job(capped, request(std::string("endless body ") + (cached ? "cached" : "")),
                      events);
    if (cached) job.set_cache(dir, CacheMode::Reuse);
    ServiceError error = run_expecting_error(job);
    EXPECT_EQ(error.kind, ErrorKind::Failed) << error.what();
    EXPECT_TRUE(mentions(error.what(), "cap of 2 MiB")) << error.what();
    ASSERT_EQ(events.started.size(), 1u);
    EXPECT_FALSE(g_file_test(events.started[0].second->path().c_str(), G_FILE_TEST_EXISTS));
    EXPECT_TRUE(clip_files(dir).empty());
    // The task is kept for the next run.
    if (cached) {
      EXPECT_FALSE(journal_is_empty(dir));
    }
  }
}

TEST_F(GenerationJobTest, StatusAnswerAboutAnotherTaskIsAProtocolError) {
  RecordingEvents other_events;
  GenerationJob other(config(), request("the other task"), other_events);
  const std::string other_task = other.run().output.task_id;

  server_->add_faults(std::string(R"([{"match":"status","times":-1,"status_of":")") + other_task +
                      R"("}])");
  ClientConfig two = config();
  two.retries = 2;
  size_t log_before = read_log(*server_).size();
  RecordingEvents events;
  GenerationJob job(two, request("mixed-up status"), events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Failed);
  EXPECT_TRUE(mentions(error.what(), "protocol error")) << error.what();
  EXPECT_TRUE(mentions(error.what(), other_task)) << error.what();
  ASSERT_EQ(events.task_ids.size(), 1u);
  EXPECT_EQ(error.task_id, events.task_ids[0].first);
  std::vector<LogEntry> log = read_log(*server_);
  log.erase(log.begin(), log.begin() + static_cast<long>(log_before));
  EXPECT_EQ(count_requests(log, "GET", "/files/"), 0u);

  // Once, it is retried and the run goes on with its own task.
  ClearFaults();
  server_->add_faults(std::string(R"([{"match":"status","status_of":")") + other_task + R"("}])");
  RecordingEvents once_events;
  GenerationJob once(config(), request("mixed-up status once"), once_events);
  JobResult result = once.run();
  ASSERT_EQ(once_events.task_ids.size(), 1u);
  EXPECT_EQ(result.output.task_id, once_events.task_ids[0].first);
  EXPECT_NE(result.output.task_id, other_task);
}

TEST(GenerationJobSchemes, ResultUrlThatIsNotHttpIsRefusedWithoutARequest) {
  SeenRequests seen;
  LoopbackServer elsewhere([&](SoupServerMessage *message) {
    seen.record(message);
    answer(message, 200, "video/mp4", small_clip("ftp"));
  });
  DevServerArgs args;
  args.keys = {std::string(kKey) + ":100000000"};
  args.latency_ms = 100;
  std::string ftp_url = elsewhere.url();
  ftp_url.replace(0, 4, "ftp");
  args.extra = {"--public-url", ftp_url};
  DevServerProcess server(args);
  ClientConfig config;
  config.api_url = server.url();
  config.api_key = kKey;
  config.poll_interval_ms = 100;
  GenerationRequest wanted;
  wanted.prompt = "ftp result";
  wanted.duration = 4;
  wanted.resolution = "480p";
  wanted.generate_audio = false;
  wanted.sync = false;
  RecordingEvents events;
  GenerationJob job(config, wanted, events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Failed);
  EXPECT_TRUE(mentions(error.what(), "not http or https")) << error.what();
  EXPECT_TRUE(events.started.empty());
  EXPECT_EQ(seen.count(), 0u);
}

TEST(GenerationJobTransport, RefusedConnectionOnSubmitIsRetriedUntilTheServiceListens) {
  // A bound but not yet listening socket refuses connections and keeps the port ours.
  GSocket *socket = bound_loopback_socket();
  ASSERT_NE(socket, nullptr);
  ClientConfig config;
  config.api_url = "http://127.0.0.1:" + std::to_string(local_port(socket));
  config.api_key = kKey;
  config.retries = 5;
  GenerationRequest request;
  request.prompt = "late service";
  request.sync = false;

  // The job says (debug log) when a submit attempt was refused and it is waiting to retry.
  struct RetryWatch {
    std::mutex mutex;
    std::condition_variable seen;
    bool retrying = false;
  } watch;
  guint handler = g_log_set_handler(
      "see2ai", G_LOG_LEVEL_DEBUG,
      [](const gchar *, GLogLevelFlags, const gchar *message, gpointer data) {
        auto *watch = static_cast<RetryWatch *>(data);
        if (!strstr(message, "retrying")) return;
        std::lock_guard<std::mutex> lock(watch->mutex);
        watch->retrying = true;
        watch->seen.notify_all();
      },
      &watch);

  std::atomic<int> posts{0};
  RecordingEvents events;
  GenerationJob job(config, request, events);
  std::optional<ServiceError> failure;
  std::thread runner([&] { failure = run_expecting_error(job); });
  {
    std::unique_lock<std::mutex> lock(watch.mutex);
    ASSERT_TRUE(
        watch.seen.wait_for(lock, std::chrono::seconds(30), [&] { return watch.retrying; }));
  }
  EXPECT_EQ(posts.load(), 0);
  {
    // The service comes up and rejects the request: proof that the retry reached it.
    LoopbackServer service(
        [&](SoupServerMessage *message) {
          ++posts;
          const char *body = R"({"detail":"prompt is not allowed here"})";
          soup_server_message_set_response(message, "application/json", SOUP_MEMORY_COPY, body,
                                           strlen(body));
          soup_server_message_set_status(message, 400, nullptr);
        },
        socket);
    runner.join();
  }
  g_log_remove_handler("see2ai", handler);
  g_object_unref(socket);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->kind, ErrorKind::Settings);
  EXPECT_EQ(posts.load(), 1);
}

TEST(GenerationJobTransport, ClosedPortOnSubmitEndsInOpenReadAfterRetries) {
  GSocket *socket = bound_loopback_socket();
  ASSERT_NE(socket, nullptr);
  ClientConfig config;
  config.api_url = "http://127.0.0.1:" + std::to_string(local_port(socket));
  config.api_key = kKey;
  config.retries = 2;
  GenerationRequest request;
  request.prompt = "nobody listens";
  request.sync = false;
  RecordingEvents events;
  GenerationJob job(config, request, events);
  ServiceError failure = run_expecting_error(job);
  g_object_unref(socket);
  EXPECT_EQ(failure.kind, ErrorKind::OpenRead);
  EXPECT_NE(std::string(failure.what()).find("2 retries"), std::string::npos) << failure.what();
}

// The output object of a finished task, as the service sends it.
std::string succeeded_output(const std::string &task_id, const std::vector<std::string> &urls) {
  std::string list;
  for (const std::string &url : urls) list += (list.empty() ? "\"" : ",\"") + url + "\"";
  return R"({"task_id":")" + task_id + R"(","state":"succeeded","total_tokens":7,"result_urls":[)" +
         list + "]}";
}

TEST(GenerationJobTransport, SeveralResultUrlsAreDownloadedInOrderWithTheKeyOnlyAtHome) {
  SeenRequests elsewhere_seen;
  const std::string second_clip = small_clip("second");
  LoopbackServer elsewhere([&](SoupServerMessage *message) {
    elsewhere_seen.record(message);
    answer(message, 200, "video/mp4", second_clip);
  });
  SeenRequests home_seen;
  const std::string first_clip = small_clip("first");
  std::string home_url;
  LoopbackServer home([&](SoupServerMessage *message) {
    home_seen.record(message);
    if (message_path(message) == "/api/v1/status/two-clips")
      answer(message, 200, "application/json",
             succeeded_output("two-clips",
                              {home_url + "/files/0.mp4", elsewhere.url() + "/files/1.mp4"}));
    else
      answer(message, 200, "video/mp4", first_clip);
  });
  home_url = home.url();
  ClientConfig config;
  config.api_url = home.url();
  config.api_key = kKey;
  RecordingEvents events;
  GenerationJob job(config, GenerationRequest{}, events);
  job.set_attach_task_id("two-clips");
  JobResult result = job.run();
  ASSERT_EQ(result.files.size(), 2u);
  EXPECT_EQ(read_whole(result.files[0]->path()), first_clip);
  EXPECT_EQ(read_whole(result.files[1]->path()), second_clip);
  ASSERT_EQ(events.started.size(), 2u);
  EXPECT_EQ(events.started[0].first, 0u);
  EXPECT_EQ(events.started[1].first, 1u);
  EXPECT_EQ(home_seen.count(), 2u);
  EXPECT_TRUE(home_seen.authorization[0] && home_seen.authorization[1]);
  EXPECT_EQ(elsewhere_seen.count(), 1u);
  EXPECT_FALSE(elsewhere_seen.any_authorization());
}

TEST(GenerationJobTransport, TaskIdIsEscapedIntoTheStatusPathTemplate) {
  SeenRequests seen;
  LoopbackServer service([&](SoupServerMessage *message) {
    seen.record(message);
    answer(message, 404, "application/json", R"({"detail":"no such task"})");
  });
  ClientConfig config;
  config.api_url = service.url() + "/";
  config.api_key = kKey;
  config.status_path = "/v2/tasks/{task_id}/status";
  RecordingEvents events;
  GenerationJob job(config, GenerationRequest{}, events);
  job.set_attach_task_id("a/b c?d");
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Failed);
  EXPECT_EQ(error.http_status, 404);
  EXPECT_EQ(error.task_id, "a/b c?d");
  ASSERT_EQ(seen.count(), 1u);
  // The server hands the path over decoded: the "?" still inside it proves it was escaped (a raw
  // one would have started a query).
  EXPECT_EQ(seen.paths[0], "/v2/tasks/a/b c?d/status");
  EXPECT_TRUE(seen.authorization[0]);
}

TEST(GenerationJobTransport, HttpLogHasLibsoupsLinesWithTheKeyHiddenEvenWhenEchoed) {
  // A server (or a debugging proxy) that echoes the Authorization header in one of its own.
  LoopbackServer service([&](SoupServerMessage *message) {
    const char *sent = soup_message_headers_get_one(
        soup_server_message_get_request_headers(message), "Authorization");
    soup_message_headers_replace(soup_server_message_get_response_headers(message), "X-Echo",
                                 sent ? sent : "");
    answer(message, 404, "application/json", R"({"detail":"no such task"})");
  });
  std::mutex lines_mutex;
  std::string lines;
  ClientConfig config;
  config.api_url = service.url();
  config.api_key = kKey;
  config.http_log = [&](char direction, const std::string &line) {
    std::lock_guard<std::mutex> guard(lines_mutex);
    lines += std::string(1, direction) + " " + line + "\n";
  };
  RecordingEvents events;
  GenerationJob job(config, GenerationRequest{}, events);
  job.set_attach_task_id("echoed");
  EXPECT_EQ(run_expecting_error(job).http_status, 404);
  std::lock_guard<std::mutex> guard(lines_mutex);
  EXPECT_NE(lines.find("> GET /api/v1/status/echoed"), std::string::npos) << lines;
  EXPECT_NE(lines.find("> Authorization: [REDACTED]"), std::string::npos) << lines;
  EXPECT_NE(lines.find("< X-Echo: Bearer [REDACTED]"), std::string::npos) << lines;
  EXPECT_EQ(lines.find(kKey), std::string::npos) << lines;
}

TEST(GenerationJobTransport, SelfSignedServiceIsRefusedUnlessSslStrictIsOff) {
  GTlsCertificate *certificate = self_signed_certificate();
  ASSERT_NE(certificate, nullptr);
  SeenRequests seen;
  LoopbackServer service(
      [&](SoupServerMessage *message) {
        seen.record(message);
        answer(message, 400, "application/json", R"({"detail":"prompt: reached over TLS"})");
      },
      nullptr, certificate);
  g_object_unref(certificate);
  ClientConfig config;
  config.api_url = service.url();
  config.api_key = kKey;
  config.retries = 1;
  GenerationRequest request;
  request.prompt = "tls";
  request.sync = false;
  {
    RecordingEvents events;
    GenerationJob job(config, request, events);
    ServiceError error = run_expecting_error(job);
    EXPECT_EQ(error.kind, ErrorKind::OpenRead);
    EXPECT_EQ(seen.count(), 0u);
  }
  config.ssl_strict = false;
  RecordingEvents events;
  GenerationJob job(config, request, events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Settings);
  EXPECT_NE(std::string(error.what()).find("reached over TLS"), std::string::npos);
  EXPECT_EQ(seen.count(), 1u);
}

TEST(GenerationJobTransport, RedirectFromHttpsToHttpIsRefused) {
  GTlsCertificate *certificate = self_signed_certificate();
  ASSERT_NE(certificate, nullptr);
  SeenRequests plain_seen;
  LoopbackServer plain([&](SoupServerMessage *message) {
    plain_seen.record(message);
    answer(message, 200, "video/mp4", std::string(1000, 'x'));
  });
  std::string service_url;
  LoopbackServer service(
      [&](SoupServerMessage *message) {
        if (message_path(message) == "/api/v1/status/downgrade")
          answer(message, 200, "application/json",
                 succeeded_output("downgrade", {service_url + "/files/clip.mp4"}));
        else
          redirect(message, plain.url() + "/clip.mp4");
      },
      nullptr, certificate);
  g_object_unref(certificate);
  service_url = service.url();
  ClientConfig config;
  config.api_url = service.url();
  config.api_key = kKey;
  config.ssl_strict = false;
  RecordingEvents events;
  GenerationJob job(config, GenerationRequest{}, events);
  job.set_attach_task_id("downgrade");
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::OpenRead);
  EXPECT_NE(std::string(error.what()).find("https to plain http"), std::string::npos)
      << error.what();
  EXPECT_EQ(plain_seen.count(), 0u);
}

TEST(GenerationJobTransport, ConfiguredProxyCarriesTheRequests) {
  SeenRequests seen;
  LoopbackServer proxy([&](SoupServerMessage *message) {
    seen.record(message);
    answer(message, 400, "application/json", R"({"detail":"prompt: answered by the proxy"})");
  });
  ClientConfig config;
  config.api_url = "http://see2ai.invalid";
  config.api_key = kKey;
  config.proxy = proxy.url();
  GenerationRequest request;
  request.prompt = "through a proxy";
  request.sync = false;
  RecordingEvents events;
  GenerationJob job(config, request, events);
  ServiceError error = run_expecting_error(job);
  EXPECT_EQ(error.kind, ErrorKind::Settings);
  EXPECT_NE(std::string(error.what()).find("answered by the proxy"), std::string::npos);
  ASSERT_EQ(seen.count(), 1u);
  EXPECT_EQ(seen.paths[0], kSubmitPath);
}

TEST(GenerationJobPolicy, RetryAfterIsReadInSecondsAndAsAnHttpDate) {
  EXPECT_EQ(see2ai::parse_retry_after("2"), std::chrono::milliseconds(2000));
  EXPECT_EQ(see2ai::parse_retry_after(" 0 "), std::chrono::milliseconds(0));
  EXPECT_FALSE(see2ai::parse_retry_after("soon"));
  EXPECT_EQ(see2ai::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            std::chrono::milliseconds(0));
  GDateTime *now = g_date_time_new_now_utc();
  GDateTime *later = g_date_time_add_seconds(now, 30);
  char *text = soup_date_time_to_string(later, SOUP_DATE_HTTP);
  std::optional<std::chrono::milliseconds> wait = see2ai::parse_retry_after(text);
  g_free(text);
  g_date_time_unref(later);
  g_date_time_unref(now);
  ASSERT_TRUE(wait);
  EXPECT_GT(*wait, std::chrono::seconds(28));
  EXPECT_LE(*wait, std::chrono::seconds(30));
}

TEST(GenerationJobPolicy, BackoffGrowsWithJitterAndStaysCapped) {
  see2ai::RetryPolicy policy(3);
  EXPECT_TRUE(policy.allows_retry(3));
  EXPECT_FALSE(policy.allows_retry(4));
  for (int i = 0; i < 50; ++i) {
    auto first = policy.delay(1, std::nullopt);
    EXPECT_GE(first, std::chrono::milliseconds(125));
    EXPECT_LE(first, std::chrono::milliseconds(250));
    auto third = policy.delay(3, std::nullopt);
    EXPECT_GE(third, std::chrono::milliseconds(500));
    EXPECT_LE(third, std::chrono::milliseconds(1000));
    EXPECT_LE(policy.delay(40, std::nullopt), std::chrono::seconds(60));
  }
  EXPECT_EQ(policy.delay(1, std::chrono::milliseconds(2000)), std::chrono::milliseconds(2000));
  EXPECT_EQ(policy.delay(1, std::chrono::hours(1)), std::chrono::seconds(60));
}

TEST(GenerationJobPolicy, AdaptivePollingStaysWithinThirtyRequestsAMinute) {
  see2ai::PollSchedule schedule(0);
  std::chrono::milliseconds spent{0};
  int polls = 0;
  while (spent < std::chrono::minutes(1)) {
    spent += schedule.next(std::nullopt);
    ++polls;
  }
  EXPECT_LE(polls, 30);
  EXPECT_EQ(schedule.next(std::nullopt), see2ai::PollSchedule::kLongest);
  EXPECT_EQ(schedule.next(std::chrono::milliseconds(7000)), std::chrono::milliseconds(7000));
  see2ai::PollSchedule fixed(100);
  EXPECT_EQ(fixed.next(std::nullopt), std::chrono::milliseconds(100));
}

}  // namespace
