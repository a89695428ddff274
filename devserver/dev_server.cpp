#include "dev_server.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <thread>

#include "byte_range.h"
#include "clip_renderer.h"
#include "context_calls.h"
#include "fault_injector.h"
#include "generation_request.h"
#include "http_answer.h"
#include "image_fetcher.h"
#include "json_text.h"
#include "price_model.h"
#include "raw_responder.h"
#include "render_queue.h"
#include "request_log.h"
#include "task_output.h"
#include "task_store.h"
#include "tenant_ledger.h"
#include "untrusted_json.h"
#include "worker_pool.h"

namespace see2ai::dev {

namespace {

constexpr char kSubmitPath[] = "/api/v1/actions/see2ai_video_generation_v1";
constexpr char kStatusPath[] = "/api/v1/status";
constexpr char kFilesPath[] = "/files";
constexpr char kControlPath[] = "/_dev";
constexpr char kNoteKey[] = "see2ai-request-note";
constexpr char kGoneKey[] = "see2ai-client-gone";
constexpr int kFetchThreads = 8;
constexpr int kListenBacklog = 1024;
// The share of the latency a task spends queued before it runs.
constexpr int kQueuedPercent = 20;

// What the request log needs about a service request beyond what the message itself holds.
struct RequestNote {
  bool logged = false;  // answers taken over by RawResponder are logged there
  bool body_written = false;
  std::optional<std::string> task_id;
  std::optional<std::string> fault;
  std::optional<std::string> range;  // the Range asked for, when a rule took it off the request
  int64_t received_ms = -1;
};

void on_body_written(SoupServerMessage *, gpointer note) {
  static_cast<RequestNote *>(note)->body_written = true;
}

RequestNote *note_of(SoupServerMessage *message) {
  auto *note = static_cast<RequestNote *>(g_object_get_data(G_OBJECT(message), kNoteKey));
  if (note) return note;
  note = new RequestNote;
  g_object_set_data_full(G_OBJECT(message), kNoteKey, note,
                         [](gpointer data) { delete static_cast<RequestNote *>(data); });
  g_signal_connect(message, "wrote-body", G_CALLBACK(on_body_written), note);
  return note;
}

// A held reference to a message answered later (a sync submit, a submit fetching images).
class MessageRef {
 public:
  explicit MessageRef(SoupServerMessage *message)
      : message_(SOUP_SERVER_MESSAGE(g_object_ref(message))) {}
  MessageRef(const MessageRef &other)
      : message_(SOUP_SERVER_MESSAGE(g_object_ref(other.message_))) {}
  // Moving lets a worker hand its reference back to the server thread, so the last unref (which
  // may finalize the message) never happens on a worker.
  MessageRef(MessageRef &&other) noexcept : message_(other.message_) { other.message_ = nullptr; }
  MessageRef &operator=(const MessageRef &) = delete;
  ~MessageRef() {
    if (message_) g_object_unref(message_);
  }
  SoupServerMessage *get() const { return message_; }

 private:
  SoupServerMessage *message_;
};

std::string request_path(SoupServerMessage *message) {
  return g_uri_get_path(soup_server_message_get_uri(message));
}

const char *request_header(SoupServerMessage *message, const char *name) {
  return soup_message_headers_get_one(soup_server_message_get_request_headers(message), name);
}

std::string request_body(SoupServerMessage *message) {
  SoupMessageBody *body = soup_server_message_get_request_body(message);
  GBytes *bytes = soup_message_body_flatten(body);
  gsize size = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &size));
  std::string text(data ? data : "", size);
  g_bytes_unref(bytes);
  return text;
}

// The key from "Authorization: Bearer KEY", empty when absent or not a bearer token.
std::string bearer_key(SoupServerMessage *message) {
  const char *header = request_header(message, "Authorization");
  if (!header) return {};
  std::string value = header;
  const std::string scheme = "bearer ";
  if (value.size() <= scheme.size() ||
      g_ascii_strncasecmp(value.c_str(), scheme.c_str(), scheme.size()) != 0)
    return {};
  std::string key = value.substr(scheme.size());
  size_t begin = key.find_first_not_of(' ');
  size_t end = key.find_last_not_of(' ');
  return begin == std::string::npos ? std::string() : key.substr(begin, end - begin + 1);
}

const char *content_type_for(const std::string &name) {
  if (g_str_has_suffix(name.c_str(), ".mp4")) return "video/mp4";
  if (g_str_has_suffix(name.c_str(), ".png")) return "image/png";
  if (g_str_has_suffix(name.c_str(), ".jpg") || g_str_has_suffix(name.c_str(), ".jpeg"))
    return "image/jpeg";
  if (g_str_has_suffix(name.c_str(), ".json")) return "application/json";
  return "application/octet-stream";
}

// Plain file names only: nothing hidden (the render cache), nothing outside the output dir.
bool is_servable_name(const std::string &name) {
  return !name.empty() && name[0] != '.' && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos;
}

// The upstream engine's limits for reference images (API-NOTES, upstream facts): 300..6000 px per
// side, width/height 0.4..2.5.
void check_reference_image(const RgbImage &image) {
  const bool sides_fit =
      image.width >= 300 && image.width <= 6000 && image.height >= 300 && image.height <= 6000;
  const double aspect = static_cast<double>(image.width) / image.height;
  if (!sides_fit || aspect < 0.4 || aspect > 2.5)
    throw std::runtime_error("it is " + std::to_string(image.width) + "x" +
                             std::to_string(image.height) +
                             "; each side must be 300..6000 px and width/height 0.4..2.5");
}

// A sync submit's 504: the task took longer than the service waits, and goes on.
std::string sync_timeout_json(const std::string &task_id) {
  JsonBuilder *builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "detail");
  json_builder_add_string_value(builder,
                                "the task took longer than the service waits; poll its status");
  json_builder_set_member_name(builder, "task_id");
  json_builder_add_string_value(builder, task_id.c_str());
  json_builder_end_object(builder);
  return builder_to_text(builder);
}

std::string error_detail_json(const std::string &field, const std::string &message) {
  JsonBuilder *builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "detail");
  json_builder_add_string_value(builder, message.c_str());
  json_builder_set_member_name(builder, "field");
  json_builder_add_string_value(builder, field.c_str());
  json_builder_end_object(builder);
  return builder_to_text(builder);
}

// Rewrites the state member the way a state_field / state_text rule asks.
std::string reshape_state(const std::string &output_json, const FaultRule &rule) {
  JsonParser *parser = json_parser_new();
  if (!json_parser_load_from_data(parser, output_json.c_str(), -1, nullptr) ||
      !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
    g_object_unref(parser);
    return output_json;
  }
  JsonObject *object = json_node_get_object(json_parser_get_root(parser));
  std::string text = json_object_has_member(object, "state")
                         ? json_object_get_string_member(object, "state")
                         : std::string();
  if (rule.state_text) text = *rule.state_text;
  json_object_remove_member(object, "state");
  json_object_set_string_member(object, rule.state_field.value_or("state").c_str(), text.c_str());
  std::string reshaped = node_to_text(json_parser_get_root(parser));
  g_object_unref(parser);
  return reshaped;
}

// The output object text with its task_id replaced.
std::string with_task_id(const std::string &output_json, const std::string &task_id) {
  JsonParser *parser = json_parser_new();
  if (!json_parser_load_from_data(parser, output_json.c_str(), -1, nullptr) ||
      !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
    g_object_unref(parser);
    return output_json;
  }
  json_object_set_string_member(json_node_get_object(json_parser_get_root(parser)), "task_id",
                                task_id.c_str());
  std::string text = node_to_text(json_parser_get_root(parser));
  g_object_unref(parser);
  return text;
}

// Bound and listening with a backlog deep enough for hundreds of clients connecting at once
// (GSocket's default of 10 makes the kernel reset connections under load).
GSocket *listening_socket(const std::string &host, int port, GError **error) {
  GInetAddress *address = g_inet_address_new_from_string(host.c_str());
  if (!address) address = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress *socket_address = g_inet_socket_address_new(address, static_cast<guint16>(port));
  GSocket *socket = g_socket_new(g_inet_address_get_family(address), G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, error);
  g_object_unref(address);
  if (socket) {
    g_socket_set_listen_backlog(socket, kListenBacklog);
    if (!g_socket_bind(socket, socket_address, TRUE, error) || !g_socket_listen(socket, error)) {
      g_object_unref(socket);
      socket = nullptr;
    }
  }
  g_object_unref(socket_address);
  return socket;
}

struct SyncWaiter {
  MessageRef message;
  std::optional<FaultRule> fault;
};

// A submit that passed validation and holds its reservation, waiting for its reference frames.
struct AcceptedSubmit {
  size_t tenant = 0;
  GenerationRequest request;
  Price price;
  std::optional<FaultRule> fault;
  std::optional<RgbImage> first_frame;
  std::optional<RgbImage> last_frame;
};

void on_client_gone(SoupServerMessage *message, gpointer) {
  g_object_set_data(G_OBJECT(message), kGoneKey, GINT_TO_POINTER(1));
}

}  // namespace

struct DevServer::Impl {
  explicit Impl(DevServerOptions opts) : options(std::move(opts)), ledger(options.tenants) {}

  DevServerOptions options;
  TenantLedger ledger;
  FaultInjector faults;
  std::unique_ptr<RequestLog> log;
  std::string output_dir;
  std::string result_base_url;

  GMainContext *context = nullptr;
  GMainLoop *loop = nullptr;
  SoupServer *server = nullptr;
  std::thread thread;
  int port = 0;
  bool running = false;
  GCancellable *stopping = nullptr;

  // Only touched on the server's context.
  TaskStore tasks;
  std::map<std::string, std::vector<SyncWaiter>> sync_waiters;

  std::unique_ptr<RawResponder> raw;
  std::unique_ptr<WorkerPool> fetchers;
  std::unique_ptr<RenderQueue> renders;

  static void on_submit(SoupServer *, SoupServerMessage *message, const char *, GHashTable *,
                        gpointer data);
  static void on_status(SoupServer *, SoupServerMessage *message, const char *path, GHashTable *,
                        gpointer data);
  static void on_file(SoupServer *, SoupServerMessage *message, const char *path, GHashTable *,
                      gpointer data);
  static void on_control(SoupServer *, SoupServerMessage *message, const char *path, GHashTable *,
                         gpointer data);
  static void on_unknown(SoupServer *, SoupServerMessage *message, const char *, GHashTable *,
                         gpointer data);
  static void on_request_done(SoupServer *, SoupServerMessage *message, gpointer data);

  void serve();  // the server thread
  void add_handlers();

  // Handlers (server context).
  void handle_submit(SoupServerMessage *message);
  void handle_status(SoupServerMessage *message, const std::string &path);
  void handle_file(SoupServerMessage *message, const std::string &path);
  void handle_control(SoupServerMessage *message, const std::string &path);
  void handle_unknown(SoupServerMessage *message);

  void send(SoupServerMessage *message, HttpAnswer answer, const std::optional<FaultRule> &fault,
            bool paused);
  // An answer that never got out completely (the client went away) is logged as status 0.
  void log_finished(SoupServerMessage *message);
  std::optional<size_t> authorize(SoupServerMessage *message, const std::optional<FaultRule> &fault,
                                  bool paused);

  void fetch_reference_frames(SoupServerMessage *message, AcceptedSubmit submit);
  void start_task(SoupServerMessage *message, AcceptedSubmit submit, bool paused);
  void enter_running(const std::string &task_id);
  void try_finish(const std::string &task_id);
  void end_sync_wait(const std::string &task_id, SoupServerMessage *message);
  void finish(Task &task, TaskState state, std::optional<std::string> error_message);
  std::string output_json(const Task &task, const std::optional<FaultRule> &fault);
};

void DevServer::Impl::on_submit(SoupServer *, SoupServerMessage *message, const char *,
                                GHashTable *, gpointer data) {
  static_cast<Impl *>(data)->handle_submit(message);
}

void DevServer::Impl::on_status(SoupServer *, SoupServerMessage *message, const char *path,
                                GHashTable *, gpointer data) {
  static_cast<Impl *>(data)->handle_status(message, path);
}

void DevServer::Impl::on_file(SoupServer *, SoupServerMessage *message, const char *path,
                              GHashTable *, gpointer data) {
  static_cast<Impl *>(data)->handle_file(message, path);
}

void DevServer::Impl::on_control(SoupServer *, SoupServerMessage *message, const char *path,
                                 GHashTable *, gpointer data) {
  static_cast<Impl *>(data)->handle_control(message, path);
}

void DevServer::Impl::on_unknown(SoupServer *, SoupServerMessage *message, const char *,
                                 GHashTable *, gpointer data) {
  static_cast<Impl *>(data)->handle_unknown(message);
}

void DevServer::Impl::on_request_done(SoupServer *, SoupServerMessage *message, gpointer data) {
  static_cast<Impl *>(data)->log_finished(message);
}

void DevServer::Impl::add_handlers() {
  soup_server_add_handler(server, kSubmitPath, on_submit, this, nullptr);
  soup_server_add_handler(server, kStatusPath, on_status, this, nullptr);
  soup_server_add_handler(server, kFilesPath, on_file, this, nullptr);
  soup_server_add_handler(server, kControlPath, on_control, this, nullptr);
  soup_server_add_handler(server, nullptr, on_unknown, this, nullptr);
  // libsoup reports any 500 as "aborted" too, so the note's body_written tells the cases apart.
  g_signal_connect(server, "request-finished", G_CALLBACK(on_request_done), this);
  g_signal_connect(server, "request-aborted", G_CALLBACK(on_request_done), this);
}

void DevServer::Impl::log_finished(SoupServerMessage *message) {
  auto *note = static_cast<RequestNote *>(g_object_get_data(G_OBJECT(message), kNoteKey));
  if (!note || note->logged) return;
  bool aborted = !note->body_written;
  RequestRecord record;
  record.method = soup_server_message_get_method(message);
  record.path = request_path(message);
  record.status = aborted ? 0 : static_cast<int>(soup_server_message_get_status(message));
  record.authorization = request_header(message, "Authorization") != nullptr;
  if (const char *range = request_header(message, "Range")) record.range = range;
  if (note->range) record.range = note->range;
  record.task_id = note->task_id;
  record.fault = note->fault;
  record.received_ms = note->received_ms;
  if (record.method != "HEAD" && !aborted)
    record.bytes_sent = soup_server_message_get_response_body(message)->length;
  log->record_request(record);
  note->logged = true;  // an abort signal after the finish must not log it twice
}

void DevServer::Impl::send(SoupServerMessage *message, HttpAnswer answer,
                           const std::optional<FaultRule> &fault, bool paused) {
  RequestNote *note = note_of(message);
  if (fault && fault->hold_ms && *fault->hold_ms > 0) {
    // Handled already (a submit's task exists); only the answer waits, as behind a slow gateway.
    FaultRule released = *fault;
    released.hold_ms.reset();
    if (!paused) {
      soup_server_message_pause(message);
      g_signal_connect(message, "disconnected", G_CALLBACK(on_client_gone), nullptr);
    }
    MessageRef held(message);
    run_after(context, static_cast<int>(*fault->hold_ms),
              [this, held, answer = std::move(answer), released]() mutable {
                if (g_object_get_data(G_OBJECT(held.get()), kGoneKey)) return;
                send(held.get(), std::move(answer), released, true);
              });
    return;
  }
  if (fault) {
    note->fault = fault->description;
    if (fault->retry_after) answer.headers.emplace_back("Retry-After", *fault->retry_after);
    if (fault->gzip) {
      answer.body = gzip_bytes(answer.body);
      answer.headers.emplace_back("Content-Encoding", "gzip");
    }
  }
  if (fault && fault->shapes_transport()) {
    RequestRecord record;
    record.method = soup_server_message_get_method(message);
    record.path = request_path(message);
    record.status = fault->drop_connection ? 0 : answer.status;
    record.authorization = request_header(message, "Authorization") != nullptr;
    if (const char *range = request_header(message, "Range")) record.range = range;
    if (note->range) record.range = note->range;
    record.task_id = note->task_id;
    record.fault = note->fault;
    record.received_ms = note->received_ms;
    note->logged = true;
    RawAnswer raw_answer;
    raw_answer.status = answer.status;
    raw_answer.headers = answer.headers;
    raw_answer.headers.emplace_back("Content-Type", answer.content_type);
    raw_answer.body = std::move(answer.body);
    raw_answer.framing = fault->chunked                       ? BodyFraming::Chunked
                         : fault->no_length || fault->endless ? BodyFraming::UntilClose
                                                              : BodyFraming::Length;
    raw_answer.endless = fault->endless;
    raw_answer.drop_connection = fault->drop_connection;
    raw_answer.cut_at = fault->cut_at;
    raw_answer.stall_after_headers = fault->stall_after_headers;
    raw_answer.rate = fault->rate;
    // Taken over from an idle callback, not from inside the handler: stealing frees the message,
    // which libsoup still reads after the handler returns.
    if (!paused) soup_server_message_pause(message);
    RequestLog *request_log = log.get();
    MessageRef held(message);
    run_on(context, [this, held, raw_answer = std::move(raw_answer), request_log, record] {
      raw->answer(held.get(), raw_answer, [request_log, record](int64_t bytes) mutable {
        record.bytes_sent = bytes;
        request_log->record_request(record);
      });
    });
    return;
  }
  soup_server_message_set_status(message, static_cast<guint>(answer.status), nullptr);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(message);
  for (const auto &[name, value] : answer.headers)
    soup_message_headers_replace(headers, name.c_str(), value.c_str());
  soup_server_message_set_response(message, answer.content_type.c_str(), SOUP_MEMORY_COPY,
                                   answer.body.data(), answer.body.size());
  if (paused) soup_server_message_unpause(message);
}

std::optional<size_t> DevServer::Impl::authorize(SoupServerMessage *message,
                                                 const std::optional<FaultRule> &fault,
                                                 bool paused) {
  std::string key = bearer_key(message);
  if (key.empty()) {
    send(message,
         json_answer(401, detail_json("missing API key: send Authorization: Bearer <key>")), fault,
         paused);
    return std::nullopt;
  }
  auto tenant = ledger.find_key(key);
  if (!tenant) send(message, json_answer(401, detail_json("unknown API key")), fault, paused);
  return tenant;
}

void DevServer::Impl::handle_submit(SoupServerMessage *message) {
  note_of(message)->received_ms = log->elapsed_ms();
  if (g_strcmp0(soup_server_message_get_method(message), "POST") != 0) {
    send(message, json_answer(405, detail_json("use POST")), std::nullopt, false);
    return;
  }
  std::string body = request_body(message);
  std::optional<FaultRule> fault =
      faults.take(FaultTarget::Submit, g_uri_get_path(soup_server_message_get_uri(message)),
                  untrusted_string_member(body, "prompt"));
  if (fault && fault->replaces_answer()) {
    send(message, fault_answer(*fault), fault, false);
    return;
  }
  auto tenant = authorize(message, fault, false);
  if (!tenant) return;
  if (!json_nesting_within(body, kMaxJsonNesting)) {
    send(message, json_answer(400, error_detail_json("body", "body: JSON nested too deeply")),
         fault, false);
    return;
  }
  ParsedRequest parsed = parse_request_json(body);
  std::optional<FieldError> error = parsed.error ? parsed.error : validate(parsed.request);
  if (error) {
    send(message, json_answer(400, error_detail_json(error->field, error->message)), fault, false);
    return;
  }
  AcceptedSubmit submit;
  submit.tenant = *tenant;
  submit.request = parsed.request;
  submit.price = price_for(parsed.request);
  submit.fault = fault;
  if (!ledger.reserve(*tenant, submit.price.total_tokens)) {
    send(message,
         json_answer(402, detail_json("balance too low: this request costs " +
                                      std::to_string(submit.price.total_tokens) + " tokens, " +
                                      ledger.name(*tenant) + " has " +
                                      std::to_string(ledger.available(*tenant)) + " available")),
         fault, false);
    return;
  }
  if (submit.request.first_frame_url || submit.request.last_frame_url) {
    fetch_reference_frames(message, std::move(submit));
    return;
  }
  start_task(message, std::move(submit), false);
}

void DevServer::Impl::fetch_reference_frames(SoupServerMessage *message, AcceptedSubmit submit) {
  soup_server_message_pause(message);
  g_signal_connect(message, "disconnected", G_CALLBACK(on_client_gone), nullptr);
  MessageRef held(message);
  auto shared = std::make_shared<AcceptedSubmit>(std::move(submit));
  fetchers->post([this, held = std::move(held), shared]() mutable {
    std::optional<FieldError> failure;
    const std::pair<const char *, std::optional<std::string> *> frames[] = {
        {"first_frame_url", &shared->request.first_frame_url},
        {"last_frame_url", &shared->request.last_frame_url}};
    for (const auto &[field, url] : frames) {
      if (!*url) continue;
      try {
        RgbImage image = decode_image(fetch_url(**url, FetchLimits{}, stopping));
        check_reference_image(image);
        (std::string(field) == "first_frame_url" ? shared->first_frame : shared->last_frame) =
            std::move(image);
      } catch (const std::exception &e) {
        failure = FieldError{
            field, std::string(field) + ": cannot use the image at " + **url + ": " + e.what()};
        break;
      }
    }
    run_on(context, [this, held = std::move(held), shared, failure] {
      if (failure) {
        ledger.release(shared->tenant, shared->price.total_tokens);
        if (!g_object_get_data(G_OBJECT(held.get()), kGoneKey))
          send(held.get(), json_answer(400, error_detail_json(failure->field, failure->message)),
               shared->fault, true);
        return;
      }
      start_task(held.get(), std::move(*shared), true);
    });
  });
}

void DevServer::Impl::start_task(SoupServerMessage *message, AcceptedSubmit submit, bool paused) {
  Task fresh;
  fresh.id = tasks.new_id();
  fresh.tenant = submit.tenant;
  fresh.request = submit.request;
  fresh.price = submit.price;
  fresh.warnings = advisories(submit.request);
  if (submit.fault && submit.fault->task_outcome) fresh.forced_outcome = submit.fault->task_outcome;
  if (submit.fault)
    fresh.warnings.insert(fresh.warnings.end(), submit.fault->warnings.begin(),
                          submit.fault->warnings.end());
  fresh.submitted_ms = log->elapsed_ms();
  fresh.result_url = result_base_url + "/files/" + fresh.id + ".mp4";
  Task &task = tasks.add(std::move(fresh));
  std::string id = task.id;
  note_of(message)->task_id = id;
  log->record_submit(id, to_json(task.request));
  log->record_state(id, state_name(TaskState::Queued));

  int latency = options.latency_ms > 0 ? options.latency_ms : 0;
  if (submit.fault && submit.fault->latency_ms)
    latency = static_cast<int>(*submit.fault->latency_ms);
  run_after(context, latency * kQueuedPercent / 100, [this, id] { enter_running(id); });
  run_after(context, latency, [this, id] {
    if (Task *due = tasks.find(id)) due->latency_passed = true;
    try_finish(id);
  });

  if (!task.forced_outcome) {
    RenderSpec spec;
    frame_size_for(task.request.resolution, task.request.aspect_ratio,
                   submit.first_frame ? &*submit.first_frame : nullptr, &spec.width, &spec.height);
    spec.duration_s = clip_seconds(task.request);
    spec.audio = task.request.generate_audio ? AudioTrack::Mono : AudioTrack::None;
    spec.sample_rate = 48000;
    spec.layout = Mp4Layout::Faststart;
    spec.seed_text = task.request.prompt.value_or("");
    spec.first_frame = std::move(submit.first_frame);
    spec.last_frame = std::move(submit.last_frame);
    GMainContext *server_context = context;
    renders->render(spec, output_dir + "/" + id + ".mp4",
                    [this, server_context, id](const std::string &error) {
                      run_on(server_context, [this, id, error] {
                        if (Task *done = tasks.find(id)) {
                          done->render_done = true;
                          done->render_error = error;
                          try_finish(id);
                        }
                      });
                    });
  }

  if (!task.request.sync) {
    send(message, json_answer(200, output_json(task, submit.fault)), submit.fault, paused);
    return;
  }
  if (submit.fault && submit.fault->sync_timeout) {
    send(message, json_answer(504, sync_timeout_json(id)), submit.fault, paused);
    return;
  }
  if (!paused) {
    soup_server_message_pause(message);
    g_signal_connect(message, "disconnected", G_CALLBACK(on_client_gone), nullptr);
  }
  sync_waiters[id].push_back(SyncWaiter{MessageRef(message), submit.fault});
  if (options.sync_wait_ms > 0)
    run_after(context, options.sync_wait_ms, [this, id, message] { end_sync_wait(id, message); });
}

// The gateway's own limit on a sync submit: a task still going after sync_wait_ms is answered 504
// with its task_id, and goes on. (`message` is only compared: the waiter list holds its ref.)
void DevServer::Impl::end_sync_wait(const std::string &task_id, SoupServerMessage *message) {
  auto waiting = sync_waiters.find(task_id);
  if (waiting == sync_waiters.end()) return;
  std::optional<SyncWaiter> ended;
  std::vector<SyncWaiter> kept;
  for (SyncWaiter &waiter : waiting->second) {
    if (!ended && waiter.message.get() == message)
      ended.emplace(std::move(waiter));
    else
      kept.push_back(std::move(waiter));
  }
  if (!ended) return;
  if (kept.empty())
    sync_waiters.erase(waiting);
  else
    waiting->second = std::move(kept);
  if (g_object_get_data(G_OBJECT(message), kGoneKey)) return;
  send(message, json_answer(504, sync_timeout_json(task_id)), ended->fault, true);
}

void DevServer::Impl::enter_running(const std::string &task_id) {
  Task *task = tasks.find(task_id);
  if (!task || task->state != TaskState::Queued) return;
  task->state = TaskState::Running;
  log->record_state(task_id, state_name(TaskState::Running));
}

void DevServer::Impl::try_finish(const std::string &task_id) {
  Task *task = tasks.find(task_id);
  if (!task || is_terminal(task->state)) return;
  if (!task->latency_passed) return;
  enter_running(task_id);
  if (task->forced_outcome) {
    if (*task->forced_outcome == "expired")
      finish(*task, TaskState::Expired, "the task expired before it finished");
    else if (*task->forced_outcome == "cancelled")
      finish(*task, TaskState::Cancelled, "the task was cancelled");
    else
      finish(*task, TaskState::Failed, "generation failed upstream");
    return;
  }
  if (!task->render_done) return;
  if (!task->render_error.empty())
    finish(*task, TaskState::Failed, task->render_error);
  else
    finish(*task, TaskState::Succeeded, std::nullopt);
}

void DevServer::Impl::finish(Task &task, TaskState state,
                             std::optional<std::string> error_message) {
  task.state = state;
  task.error_message = std::move(error_message);
  task.finished_ms = log->elapsed_ms();
  if (state == TaskState::Succeeded)
    ledger.charge(task.tenant, task.price.total_tokens);
  else
    ledger.release(task.tenant, task.price.total_tokens);
  log->record_state(task.id, state_name(state));
  if (state == TaskState::Succeeded) log->record_charge(task.id, task.price.total_tokens);

  auto waiting = sync_waiters.find(task.id);
  if (waiting == sync_waiters.end()) return;
  std::vector<SyncWaiter> waiters = std::move(waiting->second);
  sync_waiters.erase(waiting);
  int status = state == TaskState::Succeeded ? 200 : 500;
  for (const auto &waiter : waiters) {
    if (g_object_get_data(G_OBJECT(waiter.message.get()), kGoneKey)) continue;
    send(waiter.message.get(), json_answer(status, output_json(task, waiter.fault)), waiter.fault,
         true);
  }
}

std::string DevServer::Impl::output_json(const Task &task, const std::optional<FaultRule> &fault) {
  std::string text = to_json(output_of(task, log->elapsed_ms()));
  if (fault && (fault->state_field || fault->state_text)) return reshape_state(text, *fault);
  return text;
}

void DevServer::Impl::handle_status(SoupServerMessage *message, const std::string &path) {
  note_of(message)->received_ms = log->elapsed_ms();
  if (g_strcmp0(soup_server_message_get_method(message), "GET") != 0) {
    send(message, json_answer(405, detail_json("use GET")), std::nullopt, false);
    return;
  }
  std::optional<FaultRule> fault = faults.take(FaultTarget::Status, path);
  if (fault && fault->replaces_answer()) {
    send(message, fault_answer(*fault), fault, false);
    return;
  }
  auto tenant = authorize(message, fault, false);
  if (!tenant) return;
  const std::string prefix = std::string(kStatusPath) + "/";
  std::string id = path.size() > prefix.size() ? path.substr(prefix.size()) : std::string();
  Task *task = tasks.find(id);
  if (!task || task->tenant != *tenant) {
    send(message, json_answer(404, detail_json("unknown task_id")), fault, false);
    return;
  }
  note_of(message)->task_id = id;
  std::string output = output_json(*task, fault);
  if (fault && fault->status_of) {
    // A proxy or cache mixing answers up: another task's answer, or this one's under another id.
    Task *other = tasks.find(*fault->status_of);
    output = other ? output_json(*other, fault) : with_task_id(output, *fault->status_of);
  }
  send(message, json_answer(200, output), fault, false);
}

void DevServer::Impl::handle_file(SoupServerMessage *message, const std::string &path) {
  note_of(message)->received_ms = log->elapsed_ms();
  const char *method = soup_server_message_get_method(message);
  if (g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0) {
    send(message, json_answer(405, detail_json("use GET")), std::nullopt, false);
    return;
  }
  std::optional<FaultRule> fault = faults.take(FaultTarget::Download, path);
  if (fault && fault->replaces_answer()) {
    send(message, fault_answer(*fault), fault, false);
    return;
  }
  const std::string prefix = std::string(kFilesPath) + "/";
  std::string name = path.size() > prefix.size() ? path.substr(prefix.size()) : std::string();
  std::string file_path = output_dir + "/" + name;
  gchar *contents = nullptr;
  gsize size = 0;
  if (!is_servable_name(name) || !g_file_test(file_path.c_str(), G_FILE_TEST_IS_REGULAR) ||
      !g_file_get_contents(file_path.c_str(), &contents, &size, nullptr)) {
    send(message, json_answer(404, detail_json("no such file")), fault, false);
    return;
  }
  if (g_str_has_suffix(name.c_str(), ".mp4"))
    note_of(message)->task_id = name.substr(0, name.size() - 4);
  std::string data(contents, size);
  g_free(contents);

  HttpAnswer answer;
  answer.content_type = content_type_for(name);
  answer.headers.emplace_back("Accept-Ranges", "bytes");
  ByteRange range;
  int64_t total = static_cast<int64_t>(data.size());
  const char *asked = request_header(message, "Range");
  if (fault && fault->ignore_range && asked) {
    // Off the request, or libsoup would answer the Range from the whole body by itself.
    note_of(message)->range = asked;
    soup_message_headers_remove(soup_server_message_get_request_headers(message), "Range");
    asked = nullptr;
  }
  switch (resolve_range(asked, total, &range)) {
    case RangeAnswer::Whole:
      answer.status = 200;
      answer.body = std::move(data);
      break;
    case RangeAnswer::Partial:
      answer.status = 206;
      answer.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                                       std::to_string(range.last) + "/" +
                                                       std::to_string(total));
      answer.body = data.substr(static_cast<size_t>(range.first),
                                static_cast<size_t>(range.last - range.first + 1));
      break;
    case RangeAnswer::Unsatisfiable:
      answer.status = 416;
      answer.content_type = "text/plain";
      answer.headers.emplace_back("Content-Range", "bytes */" + std::to_string(total));
      break;
  }
  send(message, std::move(answer), fault, false);
}

void DevServer::Impl::handle_control(SoupServerMessage *message, const std::string &path) {
  const char *method = soup_server_message_get_method(message);
  auto reply = [message](int status, const char *content_type, const std::string &body) {
    soup_server_message_set_status(message, static_cast<guint>(status), nullptr);
    soup_server_message_set_response(message, content_type, SOUP_MEMORY_COPY, body.data(),
                                     body.size());
  };
  if (path == "/_dev/faults" && g_strcmp0(method, "POST") == 0) {
    try {
      std::string body = request_body(message);
      if (!json_nesting_within(body, kMaxJsonNesting))
        throw std::invalid_argument("fault rules: JSON nested too deeply");
      std::vector<FaultRule> rules = parse_fault_rules(body);
      size_t count = rules.size();
      faults.add(std::move(rules));
      reply(200, "application/json", "{\"added\":" + std::to_string(count) + "}");
    } catch (const std::invalid_argument &e) {
      reply(400, "application/json", detail_json(e.what()));
    }
  } else if (path == "/_dev/faults" && g_strcmp0(method, "DELETE") == 0) {
    faults.clear();
    reply(200, "application/json", "{\"cleared\":true}");
  } else if (path == "/_dev/log" && g_strcmp0(method, "GET") == 0) {
    reply(200, "application/x-ndjson", log->lines());
  } else if (path == "/_dev/tenants" && g_strcmp0(method, "GET") == 0) {
    JsonBuilder *builder = json_builder_new();
    json_builder_begin_array(builder);
    for (const auto &account : ledger.accounts()) {
      json_builder_begin_object(builder);
      json_builder_set_member_name(builder, "tenant");
      json_builder_add_string_value(builder, account.name.c_str());
      json_builder_set_member_name(builder, "balance");
      json_builder_add_int_value(builder, account.balance);
      json_builder_set_member_name(builder, "reserved");
      json_builder_add_int_value(builder, account.reserved);
      json_builder_end_object(builder);
    }
    json_builder_end_array(builder);
    reply(200, "application/json", builder_to_text(builder));
  } else {
    reply(404, "application/json", detail_json("no such control endpoint"));
  }
}

void DevServer::Impl::handle_unknown(SoupServerMessage *message) {
  note_of(message)->received_ms = log->elapsed_ms();
  send(message, json_answer(404, detail_json("no such endpoint")), std::nullopt, false);
}

void DevServer::Impl::serve() {
  g_main_context_push_thread_default(context);
  g_main_loop_run(loop);
  sync_waiters.clear();
  soup_server_disconnect(server);
  g_object_unref(server);
  server = nullptr;
  g_main_context_pop_thread_default(context);
}

DevServer::DevServer(DevServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

DevServer::~DevServer() {
  stop();
}

void DevServer::start() {
  Impl &d = *impl_;
  if (d.running) return;
  d.output_dir = d.options.output_dir;
  if (d.output_dir.empty()) {
    GError *error = nullptr;
    gchar *dir = g_dir_make_tmp("see2ai-devserver-XXXXXX", &error);
    if (!dir) {
      std::string message = error->message;
      g_error_free(error);
      throw std::runtime_error("cannot create an output directory: " + message);
    }
    d.output_dir = dir;
    g_free(dir);
  }
  if (g_mkdir_with_parents(d.output_dir.c_str(), 0755) != 0)
    throw std::runtime_error("cannot create the output directory " + d.output_dir);
  std::string cache_dir = d.output_dir + "/.render-cache";
  if (g_mkdir_with_parents(cache_dir.c_str(), 0755) != 0)
    throw std::runtime_error("cannot create the render cache " + cache_dir);
  d.log = std::make_unique<RequestLog>(d.options.log_path);
  if (!d.options.fault_rules_json.empty()) {
    try {
      d.faults.add(parse_fault_rules(d.options.fault_rules_json));
    } catch (const std::invalid_argument &e) {
      throw std::runtime_error(e.what());
    }
  }

  d.context = g_main_context_new();
  d.loop = g_main_loop_new(d.context, FALSE);
  d.stopping = g_cancellable_new();
  d.raw = std::make_unique<RawResponder>();
  d.fetchers = std::make_unique<WorkerPool>(kFetchThreads);
  d.renders = std::make_unique<RenderQueue>(
      cache_dir, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));

  g_main_context_push_thread_default(d.context);
  d.server = soup_server_new("server-header", "see2ai-devserver", nullptr);
  d.add_handlers();
  GError *error = nullptr;
  GSocket *socket = listening_socket(d.options.host, d.options.port, &error);
  gboolean listening =
      socket && soup_server_listen_socket(d.server, socket, SoupServerListenOptions(0), &error);
  if (socket) g_object_unref(socket);
  if (listening) {
    GSList *uris = soup_server_get_uris(d.server);
    if (uris) d.port = g_uri_get_port(static_cast<GUri *>(uris->data));
    g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
  }
  g_main_context_pop_thread_default(d.context);
  if (!listening) {
    std::string message = error ? error->message : "unknown error";
    g_clear_error(&error);
    g_object_unref(d.server);
    d.server = nullptr;
    d.renders.reset();
    d.fetchers.reset();
    d.raw.reset();
    g_object_unref(d.stopping);
    g_main_loop_unref(d.loop);
    g_main_context_unref(d.context);
    d.context = nullptr;
    throw std::runtime_error("cannot listen on " + d.options.host + ":" +
                             std::to_string(d.options.port) + ": " + message);
  }
  d.result_base_url = d.options.public_url.empty() ? base_url() : d.options.public_url;
  while (!d.result_base_url.empty() && d.result_base_url.back() == '/')
    d.result_base_url.pop_back();
  d.running = true;
  d.thread = std::thread([&d] { d.serve(); });
}

void DevServer::stop() {
  Impl &d = *impl_;
  if (!d.running) return;
  d.running = false;
  g_cancellable_cancel(d.stopping);
  // Workers first: they hand results to the server context, which still runs meanwhile.
  d.fetchers.reset();
  d.renders.reset();
  GMainLoop *loop = d.loop;
  run_on(d.context, [loop] { g_main_loop_quit(loop); });
  d.thread.join();
  // After the server thread: no idle callback can hand it another connection now.
  d.raw.reset();
  g_main_loop_unref(d.loop);
  d.loop = nullptr;
  g_main_context_unref(d.context);
  d.context = nullptr;
  g_object_unref(d.stopping);
  d.stopping = nullptr;
}

int DevServer::port() const {
  return impl_->port;
}

std::string DevServer::base_url() const {
  std::string host = impl_->options.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(impl_->port);
}

std::string DevServer::output_dir() const {
  return impl_->output_dir;
}

void DevServer::add_faults(const std::string &rules_json) {
  impl_->faults.add(parse_fault_rules(rules_json));
}

}  // namespace see2ai::dev
