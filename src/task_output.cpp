#include "task_output.h"

#include <glib.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "text_trim.h"
#include "untrusted_json.h"

namespace see2ai {

namespace {

// Caps on what is kept from a service answer: a broken or hostile server must not make us hold
// megabytes per field or per list.
constexpr size_t kMaxTaskIdBytes = 256;
constexpr size_t kMaxStateBytes = 256;
constexpr size_t kMaxTextBytes = 4096;
constexpr size_t kMaxUrlBytes = 8192;
constexpr size_t kMaxListEntries = 64;
constexpr size_t kMaxErrorMessageChars = 500;

// Cuts at a UTF-8 character boundary so the result stays valid.
std::string capped_bytes(std::string text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text;
}

// Valid UTF-8, one line, trimmed, at most `limit` characters: safe to put in a log or a GError.
std::string printable_message(const std::string &raw, size_t limit) {
  // Only a bounded prefix can reach the result (a character is at most 4 bytes), so a huge body
  // is not copied whole.
  size_t begin = 0;
  while (begin < raw.size() && is_ascii_space(raw[begin])) ++begin;
  size_t length = std::min(raw.size() - begin, limit * 4 + 4);
  g_autofree char *valid = g_utf8_make_valid(raw.data() + begin, static_cast<gssize>(length));
  std::string text = valid;
  for (char &c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  text = trimmed(text);
  if (g_utf8_strlen(text.c_str(), -1) <= static_cast<glong>(limit)) return text;
  const char *end = g_utf8_offset_to_pointer(text.c_str(), static_cast<glong>(limit));
  text.resize(static_cast<size_t>(end - text.c_str()));
  return text + "...";
}

std::string compact_json(JsonNode *node) {
  g_autoptr(JsonGenerator) generator = json_generator_new();
  json_generator_set_root(generator, node);
  g_autofree char *text = json_generator_to_data(generator, nullptr);
  return text;
}

JsonNode *member(JsonObject *object, const char *name) {
  if (!json_object_has_member(object, name)) return nullptr;
  JsonNode *node = json_object_get_member(object, name);
  return JSON_NODE_HOLDS_NULL(node) ? nullptr : node;
}

std::optional<std::string> string_member(JsonObject *object, const char *name, size_t limit) {
  JsonNode *node = member(object, name);
  if (!node || json_node_get_value_type(node) != G_TYPE_STRING) return std::nullopt;
  return capped_bytes(json_node_get_string(node), limit);
}

// Integers may arrive as integral doubles or as strings; anything else reads as absent.
std::optional<int64_t> int_member(JsonObject *object, const char *name) {
  JsonNode *node = member(object, name);
  if (!node) return std::nullopt;
  GType type = json_node_get_value_type(node);
  if (type == G_TYPE_INT64) return json_node_get_int(node);
  if (type == G_TYPE_DOUBLE) {
    double number = json_node_get_double(node);
    if (std::isfinite(number) && std::trunc(number) == number && std::fabs(number) < 9e18)
      return static_cast<int64_t>(number);
    return std::nullopt;
  }
  if (type == G_TYPE_STRING) {
    std::string text = trimmed(json_node_get_string(node));
    if (text.empty()) return std::nullopt;
    char *end = nullptr;
    errno = 0;
    long long value = std::strtoll(text.c_str(), &end, 10);
    if (errno == 0 && end && *end == '\0') return value;
  }
  return std::nullopt;
}

std::vector<std::string> string_list_member(JsonObject *object, const char *name, size_t limit) {
  std::vector<std::string> list;
  JsonNode *node = member(object, name);
  if (!node || !JSON_NODE_HOLDS_ARRAY(node)) return list;
  JsonArray *array = json_node_get_array(node);
  guint length = json_array_get_length(array);
  for (guint i = 0; i < length && list.size() < kMaxListEntries; ++i) {
    JsonNode *entry = json_array_get_element(array, i);
    if (json_node_get_value_type(entry) == G_TYPE_STRING) {
      list.push_back(capped_bytes(json_node_get_string(entry), limit));
    }
  }
  return list;
}

// Some gateways send numeric task ids; the status path needs them as text either way.
std::string task_id_member(JsonObject *object) {
  JsonNode *node = member(object, "task_id");
  if (!node) return {};
  GType type = json_node_get_value_type(node);
  std::string id;
  if (type == G_TYPE_STRING) {
    id = trimmed(json_node_get_string(node));
  } else if (type == G_TYPE_INT64) {
    id = std::to_string(json_node_get_int(node));
  }
  if (id.size() > kMaxTaskIdBytes) throw std::runtime_error("task output: task_id is too long");
  return id;
}

JsonNode *parse_json(JsonParser *parser, const std::string &body) {
  if (!load_untrusted_json(parser, body, nullptr)) return nullptr;
  return json_parser_get_root(parser);
}

void add_int(JsonBuilder *builder, const char *name, int64_t value) {
  json_builder_set_member_name(builder, name);
  json_builder_add_int_value(builder, value);
}

void add_optional_int(JsonBuilder *builder, const char *name, const std::optional<int64_t> &value) {
  json_builder_set_member_name(builder, name);
  if (value) {
    json_builder_add_int_value(builder, *value);
  } else {
    json_builder_add_null_value(builder);
  }
}

// The dev server fills these from many sources; the answer must stay parseable JSON regardless.
void add_string_value(JsonBuilder *builder, const std::string &value) {
  g_autofree char *valid = g_utf8_make_valid(value.data(), static_cast<gssize>(value.size()));
  json_builder_add_string_value(builder, valid);
}

void add_string(JsonBuilder *builder, const char *name, const std::string &value) {
  json_builder_set_member_name(builder, name);
  add_string_value(builder, value);
}

void add_array_value(JsonBuilder *builder, const std::vector<std::string> &list) {
  json_builder_begin_array(builder);
  for (const std::string &entry : list) add_string_value(builder, entry);
  json_builder_end_array(builder);
}

}  // namespace

TaskState parse_state(const std::string &text) {
  g_autofree char *lower = g_ascii_strdown(trimmed(text).c_str(), -1);
  const std::string state = lower;
  if (state == "success" || state == "succeeded" || state == "completed" || state == "done")
    return TaskState::Succeeded;
  if (state == "failed" || state == "failure" || state == "error") return TaskState::Failed;
  if (state == "cancelled" || state == "canceled") return TaskState::Cancelled;
  if (state == "expired") return TaskState::Expired;
  if (state == "queued") return TaskState::Queued;
  if (state == "running") return TaskState::Running;
  return TaskState::Pending;
}

bool is_terminal(TaskState state) {
  switch (state) {
    case TaskState::Succeeded:
    case TaskState::Failed:
    case TaskState::Cancelled:
    case TaskState::Expired:
      return true;
    case TaskState::Queued:
    case TaskState::Running:
    case TaskState::Pending:
      return false;
  }
  return false;
}

const char *state_name(TaskState state) {
  switch (state) {
    case TaskState::Queued:
      return "queued";
    case TaskState::Running:
      return "running";
    case TaskState::Pending:
      return "pending";
    case TaskState::Succeeded:
      return "succeeded";
    case TaskState::Failed:
      return "failed";
    case TaskState::Cancelled:
      return "cancelled";
    case TaskState::Expired:
      return "expired";
  }
  return "pending";
}

std::string TaskOutput::service_state() const {
  return state_text.empty() ? state_name(state) : state_text;
}

TaskOutput parse_task_output(const std::string &body) {
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonNode *root = parse_json(parser, body);
  if (!root) throw std::runtime_error("task output: the body is not valid JSON");
  if (!JSON_NODE_HOLDS_OBJECT(root))
    throw std::runtime_error("task output: the body is not a JSON object");
  JsonObject *object = json_node_get_object(root);

  TaskOutput output;
  output.task_id = task_id_member(object);
  if (output.task_id.empty()) throw std::runtime_error("task output: no task_id");
  auto non_blank = [](const std::optional<std::string> &text) {
    return text && !trimmed(*text).empty();
  };
  std::optional<std::string> state = string_member(object, "state", kMaxStateBytes);
  if (!non_blank(state)) state = string_member(object, "status", kMaxStateBytes);
  if (!non_blank(state)) throw std::runtime_error("task output: no state or status");
  output.state_text = *state;
  output.state = parse_state(*state);

  output.input_tokens = int_member(object, "input_tokens").value_or(0);
  output.output_tokens = int_member(object, "output_tokens").value_or(0);
  output.total_tokens = int_member(object, "total_tokens").value_or(0);
  output.model = string_member(object, "model", kMaxTextBytes).value_or("");
  output.source = string_member(object, "source", kMaxTextBytes).value_or("");
  output.cost_points = int_member(object, "cost_points");
  output.result_urls = string_list_member(object, "result_urls", kMaxUrlBytes);
  output.cost_time = int_member(object, "cost_time");
  output.provider_config_id = int_member(object, "provider_config_id");
  output.error_message = string_member(object, "error_message", kMaxTextBytes);
  output.warnings = string_list_member(object, "warnings", kMaxTextBytes);
  return output;
}

std::string error_body_message(const std::string &body) {
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonNode *root = parse_json(parser, body);
  if (root && JSON_NODE_HOLDS_OBJECT(root)) {
    JsonObject *object = json_node_get_object(root);
    if (JsonNode *detail = member(object, "detail")) {
      std::string text = json_node_get_value_type(detail) == G_TYPE_STRING
                             ? std::string(json_node_get_string(detail))
                             : compact_json(detail);
      std::string message = printable_message(text, kMaxErrorMessageChars);
      if (!message.empty()) return message;
    }
    std::optional<std::string> error_message =
        string_member(object, "error_message", kMaxTextBytes);
    if (error_message && !trimmed(*error_message).empty())
      return printable_message(*error_message, kMaxErrorMessageChars);
  }
  return printable_message(body, kMaxErrorMessageChars);
}

std::string to_json(const TaskOutput &output) {
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_object(builder);
  add_int(builder, "input_tokens", output.input_tokens);
  add_int(builder, "output_tokens", output.output_tokens);
  add_int(builder, "total_tokens", output.total_tokens);
  add_string(builder, "model", output.model);
  add_string(builder, "source", output.source);
  add_optional_int(builder, "cost_points", output.cost_points);
  json_builder_set_member_name(builder, "result_urls");
  add_array_value(builder, output.result_urls);
  add_string(builder, "task_id", output.task_id);
  add_optional_int(builder, "cost_time", output.cost_time);
  add_string(builder, "state", output.service_state());
  add_optional_int(builder, "provider_config_id", output.provider_config_id);
  json_builder_set_member_name(builder, "error_message");
  if (output.error_message) {
    add_string_value(builder, *output.error_message);
  } else {
    json_builder_add_null_value(builder);
  }
  // The contract types warnings as string[]/null: no advice is sent as null, like the service.
  json_builder_set_member_name(builder, "warnings");
  if (output.warnings.empty()) {
    json_builder_add_null_value(builder);
  } else {
    add_array_value(builder, output.warnings);
  }
  json_builder_end_object(builder);

  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  g_autoptr(JsonGenerator) generator = json_generator_new();
  json_generator_set_root(generator, root);
  g_autofree char *text = json_generator_to_data(generator, nullptr);
  return text;
}

}  // namespace see2ai
