// TaskStore: the dev server's generation tasks (what was asked, what it costs, where it is in its
// life) and their output objects. Used on the server's main context only, so it takes no lock.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "generation_request.h"
#include "price_model.h"
#include "task_output.h"

namespace see2ai::dev {

struct Task {
  std::string id;
  size_t tenant = 0;
  GenerationRequest request;
  Price price;
  std::vector<std::string> warnings;
  std::optional<std::string> forced_outcome;  // a fault decided how it ends
  TaskState state = TaskState::Queued;
  std::optional<std::string> error_message;
  int64_t submitted_ms = 0;
  std::optional<int64_t> finished_ms;
  bool latency_passed = false;  // set by the task's timer, not by comparing clock readings
  bool render_done = false;
  std::string render_error;
  std::string result_url;
};

class TaskStore {
 public:
  TaskStore();
  // "task-" + 16 hex digits, unique in this store.
  std::string new_id();
  Task &add(Task task);
  Task *find(const std::string &id);

 private:
  std::mt19937_64 random_;
  std::unordered_map<std::string, Task> tasks_;
};

// The output object for the task as of `now_ms` (same clock as submitted_ms).
TaskOutput output_of(const Task &task, int64_t now_ms);

}  // namespace see2ai::dev
