// TaskOutput: the service's output object (submit answer, status answer, sync result) and the
// tolerant reading of task states from API-NOTES decision 2.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace see2ai {

enum class TaskState {
  Queued,
  Running,
  Pending,  // an unknown string: still in progress
  Succeeded,
  Failed,
  Cancelled,
  Expired
};

// Case-insensitive: success|succeeded|completed|done -> Succeeded; failed|failure|error -> Failed;
// cancelled|canceled -> Cancelled; expired -> Expired; queued; running; anything else -> Pending.
TaskState parse_state(const std::string &text);
bool is_terminal(TaskState state);
const char *state_name(TaskState state);  // canonical lower-case name

struct TaskOutput {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t total_tokens = 0;
  std::string model;
  std::string source;
  std::optional<int64_t> cost_points;
  std::vector<std::string> result_urls;
  std::string task_id;
  std::optional<int64_t> cost_time;  // ms
  std::string state_text;            // as sent (from "state", else "status")
  TaskState state = TaskState::Pending;
  std::optional<int64_t> provider_config_id;
  std::optional<std::string> error_message;
  std::vector<std::string> warnings;

  // The state as the service spelled it (its canonical name when it sent none).
  std::string service_state() const;
};

// Throws std::runtime_error when the body is not a JSON object or lacks task_id and state/status.
TaskOutput parse_task_output(const std::string &body);

// Best-effort message from an error body: {"detail": ...}, an output object's error_message, or
// the plain text (trimmed and capped).
std::string error_body_message(const std::string &body);

std::string to_json(const TaskOutput &output);

}  // namespace see2ai
