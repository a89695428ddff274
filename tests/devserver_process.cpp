#include "devserver_process.h"

#include <libsoup/soup.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <cstdlib>
#include <stdexcept>

namespace see2ai::test {

std::string devserver_binary() {
  const char *env = g_getenv("SEE2AI_DEVSERVER");
  return env && *env ? env : SEE2AI_DEVSERVER_PATH;
}

std::string make_temp_dir(const char *prefix) {
  const char *base = g_getenv("SEE2AI_TEST_TMP");
  std::string root = base && *base ? base : g_get_tmp_dir();
  g_mkdir_with_parents(root.c_str(), 0700);
  std::string templ = root + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!g_mkdtemp(buf.data())) throw std::runtime_error("cannot create a temporary directory");
  return buf.data();
}

DevServerProcess::DevServerProcess(DevServerArgs args) {
  dir_ = make_temp_dir("devserver");
  std::vector<std::string> argv = {devserver_binary(),
                                   "--port",
                                   "0",
                                   "--latency-ms",
                                   std::to_string(args.latency_ms),
                                   "--output-dir",
                                   dir_,
                                   "--log",
                                   dir_ + "/requests.jsonl"};
  for (const auto &key : args.keys) {
    argv.push_back("--key");
    argv.push_back(key);
  }
  argv.insert(argv.end(), args.extra.begin(), args.extra.end());
  std::vector<char *> cargv;
  for (auto &a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  gint out_fd = -1;
  GError *error = nullptr;
  // A test killed by a signal must not leave its server behind (meson would wait for it).
  GSpawnChildSetupFunc die_with_parent = [](gpointer) { prctl(PR_SET_PDEATHSIG, SIGKILL); };
  if (!g_spawn_async_with_pipes(nullptr, cargv.data(), nullptr, G_SPAWN_DO_NOT_REAP_CHILD,
                                die_with_parent, nullptr, &pid_, nullptr, &out_fd, nullptr,
                                &error)) {
    std::string message = error->message;
    g_error_free(error);
    throw std::runtime_error("cannot start see2ai-devserver: " + message);
  }
  // The server prints "see2ai-devserver listening on http://127.0.0.1:PORT" once it listens.
  FILE *out = fdopen(out_fd, "r");
  char line[512];
  while (fgets(line, sizeof line, out)) {
    std::string text = line;
    auto at = text.find("http://");
    if (at != std::string::npos) {
      url_ = text.substr(at);
      while (!url_.empty() && (url_.back() == '\n' || url_.back() == '\r')) url_.pop_back();
      break;
    }
  }
  fclose(out);
  if (url_.empty()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    g_spawn_close_pid(pid_);
    pid_ = 0;
    throw std::runtime_error("see2ai-devserver did not print its URL");
  }
}

DevServerProcess::~DevServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    g_spawn_close_pid(pid_);
  }
}

static int send_message(SoupMessage *msg, std::string *body) {
  SoupSession *session = soup_session_new();
  GError *error = nullptr;
  GBytes *bytes = soup_session_send_and_read(session, msg, nullptr, &error);
  int status = error ? 0 : soup_message_get_status(msg);
  if (bytes && body) {
    gsize size = 0;
    const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &size));
    body->assign(data ? data : "", size);
  }
  if (bytes) g_bytes_unref(bytes);
  g_clear_error(&error);
  g_object_unref(msg);
  g_object_unref(session);
  return status;
}

int DevServerProcess::get(const std::string &path, std::string *body) {
  return send_message(soup_message_new("GET", (url_ + path).c_str()), body);
}

int DevServerProcess::post_json(const std::string &path, const std::string &json,
                                const std::string &key, std::string *body) {
  SoupMessage *msg = soup_message_new("POST", (url_ + path).c_str());
  GBytes *payload = g_bytes_new(json.data(), json.size());
  soup_message_set_request_body_from_bytes(msg, "application/json", payload);
  g_bytes_unref(payload);
  if (!key.empty())
    soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
                                 ("Bearer " + key).c_str());
  return send_message(msg, body);
}

void DevServerProcess::add_faults(const std::string &rules_json) {
  std::string body;
  int status = post_json("/_dev/faults", rules_json, "", &body);
  if (status != 200) throw std::runtime_error("POST /_dev/faults failed: " + body);
}

std::vector<std::string> DevServerProcess::request_log() {
  std::string body;
  if (get("/_dev/log", &body) != 200) throw std::runtime_error("GET /_dev/log failed");
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    if (end > start) lines.push_back(body.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace see2ai::test
