#include "request_log.h"

#include <glib.h>

#include <stdexcept>

#include "json_text.h"

namespace see2ai::dev {

namespace {

void add_optional_string(JsonBuilder *builder, const char *name,
                         const std::optional<std::string> &value) {
  json_builder_set_member_name(builder, name);
  if (value)
    json_builder_add_string_value(builder, value->c_str());
  else
    json_builder_add_null_value(builder);
}

}  // namespace

RequestLog::RequestLog(const std::string &file_path) : start_us_(g_get_monotonic_time()) {
  if (file_path.empty()) return;
  file_ = fopen(file_path.c_str(), "w");
  if (!file_) throw std::runtime_error("cannot create the request log " + file_path);
}

RequestLog::~RequestLog() {
  if (file_) fclose(file_);
}

int64_t RequestLog::elapsed_ms() const {
  return (g_get_monotonic_time() - start_us_) / 1000;
}

void RequestLog::record_request(const RequestRecord &record) {
  std::lock_guard<std::mutex> guard(lock_);
  JsonBuilder *builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "seq");
  json_builder_add_int_value(builder, next_seq_++);
  json_builder_set_member_name(builder, "t_ms");
  json_builder_add_int_value(builder, elapsed_ms());
  json_builder_set_member_name(builder, "method");
  json_builder_add_string_value(builder, record.method.c_str());
  json_builder_set_member_name(builder, "path");
  json_builder_add_string_value(builder, record.path.c_str());
  json_builder_set_member_name(builder, "status");
  json_builder_add_int_value(builder, record.status);
  json_builder_set_member_name(builder, "authorization");
  json_builder_add_boolean_value(builder, record.authorization);
  add_optional_string(builder, "range", record.range);
  add_optional_string(builder, "task_id", record.task_id);
  add_optional_string(builder, "fault", record.fault);
  json_builder_set_member_name(builder, "bytes_sent");
  json_builder_add_int_value(builder, record.bytes_sent);
  if (record.received_ms >= 0) {
    json_builder_set_member_name(builder, "received_ms");
    json_builder_add_int_value(builder, record.received_ms);
  }
  json_builder_end_object(builder);
  append(builder_to_text(builder));
}

JsonBuilder *RequestLog::begin_event(const char *event, const std::string &task_id) {
  JsonBuilder *builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "seq");
  json_builder_add_int_value(builder, next_seq_++);
  json_builder_set_member_name(builder, "event");
  json_builder_add_string_value(builder, event);
  json_builder_set_member_name(builder, "task_id");
  json_builder_add_string_value(builder, task_id.c_str());
  return builder;
}

void RequestLog::end_event(JsonBuilder *builder) {
  json_builder_set_member_name(builder, "t_ms");
  json_builder_add_int_value(builder, elapsed_ms());
  json_builder_end_object(builder);
  append(builder_to_text(builder));
}

void RequestLog::record_state(const std::string &task_id, const std::string &state) {
  std::lock_guard<std::mutex> guard(lock_);
  JsonBuilder *builder = begin_event("state", task_id);
  json_builder_set_member_name(builder, "state");
  json_builder_add_string_value(builder, state.c_str());
  end_event(builder);
}

void RequestLog::record_charge(const std::string &task_id, int64_t tokens) {
  std::lock_guard<std::mutex> guard(lock_);
  JsonBuilder *builder = begin_event("charge", task_id);
  json_builder_set_member_name(builder, "tokens");
  json_builder_add_int_value(builder, tokens);
  end_event(builder);
}

void RequestLog::record_submit(const std::string &task_id, const std::string &request_json) {
  JsonParser *parser = json_parser_new();
  JsonNode *request = json_parser_load_from_data(parser, request_json.c_str(), -1, nullptr)
                          ? json_node_copy(json_parser_get_root(parser))
                          : json_node_new(JSON_NODE_NULL);
  g_object_unref(parser);
  std::lock_guard<std::mutex> guard(lock_);
  JsonBuilder *builder = begin_event("submit", task_id);
  json_builder_set_member_name(builder, "request");
  json_builder_add_value(builder, request);
  end_event(builder);
}

void RequestLog::append(const std::string &line) {
  lines_ += line;
  lines_ += '\n';
  if (file_) {
    fputs(line.c_str(), file_);
    fputc('\n', file_);
    fflush(file_);
  }
}

std::string RequestLog::lines() const {
  std::lock_guard<std::mutex> guard(lock_);
  return lines_;
}

}  // namespace see2ai::dev
