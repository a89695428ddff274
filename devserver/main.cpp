// see2ai-devserver: runs the local SEE2AI-compatible service (DevServer) from the command line
// until SIGTERM or SIGINT; prints one "listening on URL" line once it accepts connections.
#include <glib-unix.h>
#include <glib.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "dev_server.h"

extern "C" {
#include <libavutil/log.h>
}

namespace {

see2ai::dev::Tenant parse_key(const std::string &text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw std::invalid_argument("--key wants KEY:BALANCE");
  std::string balance_text = text.substr(colon + 1);
  char *end = nullptr;
  errno = 0;
  long long balance = std::strtoll(balance_text.c_str(), &end, 10);
  if (errno != 0 || !end || *end != '\0' || balance < 0)
    throw std::invalid_argument("--key wants KEY:BALANCE with a balance >= 0");
  see2ai::dev::Tenant tenant;
  tenant.key = text.substr(0, colon);
  tenant.balance = balance;
  return tenant;
}

std::string read_text_file(const char *path) {
  gchar *contents = nullptr;
  gsize size = 0;
  GError *error = nullptr;
  if (!g_file_get_contents(path, &contents, &size, &error)) {
    std::string message = error->message;
    g_error_free(error);
    throw std::invalid_argument("cannot read --faults file: " + message);
  }
  std::string text(contents, size);
  g_free(contents);
  return text;
}

gboolean quit_loop(gpointer loop) {
  g_main_loop_quit(static_cast<GMainLoop *>(loop));
  return G_SOURCE_REMOVE;
}

}  // namespace

int main(int argc, char **argv) {
  gchar *host = nullptr;
  gint port = 0;
  gchar **keys = nullptr;
  gint latency_ms = 3000;
  gint sync_wait_ms = 0;
  gchar *output_dir = nullptr;
  gchar *log_path = nullptr;
  gchar *public_url = nullptr;
  gchar *faults_path = nullptr;
  GOptionEntry entries[] = {
      {"host", 0, 0, G_OPTION_ARG_STRING, &host, "Address to listen on (default 127.0.0.1)",
       "HOST"},
      {"port", 0, 0, G_OPTION_ARG_INT, &port, "Port (0: pick a free one)", "PORT"},
      {"key", 0, 0, G_OPTION_ARG_STRING_ARRAY, &keys,
       "An accepted API key and its token balance (repeatable)", "KEY:BALANCE"},
      {"latency-ms", 0, 0, G_OPTION_ARG_INT, &latency_ms,
       "How long a task takes from queued to its end (default 3000)", "MS"},
      {"sync-wait-ms", 0, 0, G_OPTION_ARG_INT, &sync_wait_ms,
       "How long a sync submit is held before a 504 that names the task (default 0: until the "
       "task ends)",
       "MS"},
      {"output-dir", 0, 0, G_OPTION_ARG_FILENAME, &output_dir,
       "Where rendered clips go (default: a new temporary directory)", "DIR"},
      {"log", 0, 0, G_OPTION_ARG_FILENAME, &log_path, "Request log file (JSON lines)",
       "FILE.jsonl"},
      {"public-url", 0, 0, G_OPTION_ARG_STRING, &public_url,
       "Base URL for result_urls (default: the listening URL)", "URL"},
      {"faults", 0, 0, G_OPTION_ARG_FILENAME, &faults_path,
       "Fault rules (JSON array) active from the start", "FILE.json"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};

  GOptionContext *option_context =
      g_option_context_new("- local SEE2AI video generation service for development and tests");
  g_option_context_add_main_entries(option_context, entries, nullptr);
  GError *error = nullptr;
  if (!g_option_context_parse(option_context, &argc, &argv, &error)) {
    fprintf(stderr, "see2ai-devserver: %s\n", error->message);
    g_error_free(error);
    g_option_context_free(option_context);
    return 2;
  }
  g_option_context_free(option_context);

  see2ai::dev::DevServerOptions options;
  int status = 0;
  try {
    if (host) options.host = host;
    if (port < 0 || port > 65535) throw std::invalid_argument("--port wants 0..65535");
    options.port = port;
    for (gchar **key = keys; key && *key; ++key) options.tenants.push_back(parse_key(*key));
    if (options.tenants.empty()) throw std::invalid_argument("give at least one --key KEY:BALANCE");
    if (latency_ms < 0) throw std::invalid_argument("--latency-ms wants a value >= 0");
    options.latency_ms = latency_ms;
    if (sync_wait_ms < 0) throw std::invalid_argument("--sync-wait-ms wants a value >= 0");
    options.sync_wait_ms = sync_wait_ms;
    if (output_dir) options.output_dir = output_dir;
    if (log_path) options.log_path = log_path;
    if (public_url) options.public_url = public_url;
    if (faults_path) options.fault_rules_json = read_text_file(faults_path);
  } catch (const std::invalid_argument &e) {
    fprintf(stderr, "see2ai-devserver: %s\n", e.what());
    status = 2;
  }
  g_free(host);
  g_strfreev(keys);
  g_free(output_dir);
  g_free(log_path);
  g_free(public_url);
  g_free(faults_path);
  if (status != 0) return status;

  // libav's per-clip encoder statistics would drown the server's own output.
  av_log_set_level(AV_LOG_ERROR);
  // Signals are caught before the URL is printed: whoever reads it may stop the server at once.
  GMainLoop *loop = g_main_loop_new(nullptr, FALSE);
  g_unix_signal_add(SIGTERM, quit_loop, loop);
  g_unix_signal_add(SIGINT, quit_loop, loop);
  see2ai::dev::DevServer server(options);
  try {
    server.start();
  } catch (const std::exception &e) {
    fprintf(stderr, "see2ai-devserver: %s\n", e.what());
    g_main_loop_unref(loop);
    return 1;
  }
  printf("see2ai-devserver listening on %s\n", server.base_url().c_str());
  fflush(stdout);
  g_main_loop_run(loop);
  g_main_loop_unref(loop);
  server.stop();
  return 0;
}
