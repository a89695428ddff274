// ServerLog: the dev server's request log as tests read it: one entry per request (or task state
// event), and the waits and counts tests make on it (the log is the witness of every POST paid).
#pragma once

#include <glib.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "devserver_process.h"

namespace see2ai::test {

struct LogEntry {
  long t_ms = 0;
  long received_ms = 0;  // requests: when the server had it (t_ms: when its answer was out)
  std::string method, path, event, state, task_id, fault, range;
  int status = -1;
  long tokens = -1;  // charge events
  bool authorization = false;
  bool is_submit() const { return method == "POST" && path.rfind("/api/v1/actions/", 0) == 0; }
  bool is_status() const { return method == "GET" && path.rfind("/api/v1/status/", 0) == 0; }
  bool is_download() const { return method == "GET" && path.rfind("/files/", 0) == 0; }
};

std::vector<LogEntry> read_log(DevServerProcess &server);

template <typename Predicate>
std::vector<LogEntry> only(const std::vector<LogEntry> &entries, Predicate keep) {
  std::vector<LogEntry> kept;
  std::copy_if(entries.begin(), entries.end(), std::back_inserter(kept), keep);
  return kept;
}

// Submits the server has answered (and logged).
size_t count_submits(DevServerProcess &server);

// Polls the request log until `ready` holds for it; false at the deadline (a hang guard).
template <typename Predicate>
bool wait_for_log(DevServerProcess &server, Predicate ready, double timeout_s) {
  const gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout_s * G_USEC_PER_SEC);
  while (g_get_monotonic_time() < deadline) {
    if (ready(read_log(server))) return true;
    g_usleep(50 * 1000);
  }
  return ready(read_log(server));
}

}  // namespace see2ai::test
