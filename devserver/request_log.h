// RequestLog: the dev server's record of every service request and task event, as JSON lines kept
// in memory (GET /_dev/log) and appended to an optional file. Never holds a key, only whether one
// came.
#pragma once

#include <json-glib/json-glib.h>

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

namespace see2ai::dev {

struct RequestRecord {
  std::string method;
  std::string path;
  int status = 0;
  bool authorization = false;
  std::optional<std::string> range;
  std::optional<std::string> task_id;
  std::optional<std::string> fault;  // the rule that shaped the answer
  int64_t bytes_sent = 0;
  // When the request was in whole (its handler ran), -1 when unknown. Unlike t_ms (the line's
  // time: when the answer was out) it is before anything the client could see: the time between
  // two requests' received_ms is at least the time the client waited between them.
  int64_t received_ms = -1;
};

class RequestLog {
 public:
  // Throws std::runtime_error when `file_path` (if not empty) cannot be created.
  explicit RequestLog(const std::string &file_path);
  ~RequestLog();
  RequestLog(const RequestLog &) = delete;
  RequestLog &operator=(const RequestLog &) = delete;

  void record_request(const RequestRecord &record);
  void record_state(const std::string &task_id, const std::string &state);
  void record_charge(const std::string &task_id, int64_t tokens);
  // A task made from a submit, with the request as the server understood it (defaults filled).
  void record_submit(const std::string &task_id, const std::string &request_json);

  std::string lines() const;   // every line so far, each ending in '\n'
  int64_t elapsed_ms() const;  // since the log was created (the server's start)

 private:
  // An event line: seq, event, task_id, then the caller's members, then t_ms (lock held).
  JsonBuilder *begin_event(const char *event, const std::string &task_id);
  void end_event(JsonBuilder *builder);
  void append(const std::string &line);

  int64_t start_us_;
  mutable std::mutex lock_;
  int64_t next_seq_ = 1;
  std::string lines_;
  FILE *file_ = nullptr;
};

}  // namespace see2ai::dev
