#include "task_store.h"

#include <cstdio>

namespace see2ai::dev {

namespace {
constexpr char kSource[] = "see2ai-devserver";
constexpr int64_t kProviderConfigId = 1;
}  // namespace

TaskStore::TaskStore() : random_(std::random_device{}()) {}

std::string TaskStore::new_id() {
  for (;;) {
    char id[32];
    snprintf(id, sizeof id, "task-%016llx", static_cast<unsigned long long>(random_()));
    if (tasks_.find(id) == tasks_.end()) return id;
  }
}

Task &TaskStore::add(Task task) {
  std::string id = task.id;
  return tasks_.emplace(id, std::move(task)).first->second;
}

Task *TaskStore::find(const std::string &id) {
  auto found = tasks_.find(id);
  return found == tasks_.end() ? nullptr : &found->second;
}

TaskOutput output_of(const Task &task, int64_t now_ms) {
  TaskOutput output;
  output.input_tokens = task.price.input_tokens;
  output.output_tokens = task.price.output_tokens;
  output.total_tokens = task.price.total_tokens;
  output.model = model_id(task.request.model);
  output.source = kSource;
  bool succeeded = task.state == TaskState::Succeeded;
  if (is_terminal(task.state)) output.cost_points = succeeded ? task.price.total_tokens : 0;
  if (succeeded) output.result_urls.push_back(task.result_url);
  output.task_id = task.id;
  output.cost_time = task.finished_ms.value_or(now_ms) - task.submitted_ms;
  output.state = task.state;
  output.state_text = state_name(task.state);
  output.provider_config_id = kProviderConfigId;
  output.error_message = task.error_message;
  output.warnings = task.warnings;
  return output;
}

}  // namespace see2ai::dev
