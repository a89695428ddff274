// ServiceError: one failure of talking to the service or of downloading, classified so the element
// maps it to a GStreamer error domain/code without parsing text.
#pragma once

#include <stdexcept>
#include <string>

namespace see2ai {

enum class ErrorKind {
  Settings,       // 400, local validation
  NotAuthorized,  // 401, 402
  Busy,           // 429 after retries
  Failed,         // 5xx after retries, terminal failed/expired/cancelled state
  OpenRead,       // could not connect / resolve / TLS
  Read,           // transport failure after connecting, cut body
  NoSpace,        // the disk is full (or a file-size limit): the clip cannot be written
  Timeout,        // overall deadline
  BadMedia,       // the result is not a clip at all (e.g. an HTML page served with 200)
  Cancelled,      // the caller cancelled (state change): no error message
};

struct ServiceError : std::runtime_error {
  ServiceError(ErrorKind kind, std::string message, int http_status = 0, std::string task_id = {},
               std::string state = {}, std::string service_message = {})
      : std::runtime_error(std::move(message)),
        kind(kind),
        http_status(http_status),
        task_id(std::move(task_id)),
        state(std::move(state)),
        service_message(std::move(service_message)) {}
  ErrorKind kind;
  int http_status;
  std::string task_id;
  std::string state;
  std::string service_message;
};

}  // namespace see2ai
