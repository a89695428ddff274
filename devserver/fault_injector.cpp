#include "fault_injector.h"

#include <json-glib/json-glib.h>

#include <algorithm>
#include <stdexcept>

#include "json_text.h"

namespace see2ai::dev {

namespace {

const char *const kKnownKeys[] = {
    "match",        "skip",           "times",           "status",       "body",
    "content_type", "retry_after",    "drop_connection", "cut_at",       "stall_after_headers",
    "rate",         "redirect_to",    "state_field",     "state_text",   "task_outcome",
    "sync_timeout", "malformed_json", "huge_body_bytes", "invalid_utf8", "html",
    "warnings",     "chunked",        "no_length",       "endless",      "gzip",
    "ignore_range", "status_of",      "hold_ms",         "path",         "prompt",
    "latency_ms"};

// A whole minute is far longer than any test waits for an answer.
constexpr int64_t kMaxHoldMs = 600000;

JsonNode *member(JsonObject *object, const char *name) {
  return json_object_has_member(object, name) ? json_object_get_member(object, name) : nullptr;
}

std::optional<std::string> string_member(JsonObject *object, const char *name) {
  JsonNode *node = member(object, name);
  if (!node || JSON_NODE_HOLDS_NULL(node)) return std::nullopt;
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
    throw std::invalid_argument(std::string("fault rule: \"") + name + "\" must be a string");
  return std::string(json_node_get_string(node));
}

std::optional<int64_t> int_member(JsonObject *object, const char *name) {
  JsonNode *node = member(object, name);
  if (!node || JSON_NODE_HOLDS_NULL(node)) return std::nullopt;
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
    throw std::invalid_argument(std::string("fault rule: \"") + name + "\" must be an integer");
  return json_node_get_int(node);
}

bool bool_member(JsonObject *object, const char *name) {
  JsonNode *node = member(object, name);
  if (!node || JSON_NODE_HOLDS_NULL(node)) return false;
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN)
    throw std::invalid_argument(std::string("fault rule: \"") + name + "\" must be true or false");
  return json_node_get_boolean(node);
}

std::vector<std::string> string_list_member(JsonObject *object, const char *name) {
  std::vector<std::string> list;
  JsonNode *node = member(object, name);
  if (!node || JSON_NODE_HOLDS_NULL(node)) return list;
  const std::string wrong = std::string("fault rule: \"") + name + "\" must be a list of strings";
  if (!JSON_NODE_HOLDS_ARRAY(node)) throw std::invalid_argument(wrong);
  JsonArray *array = json_node_get_array(node);
  for (guint i = 0; i < json_array_get_length(array); ++i) {
    JsonNode *item = json_array_get_element(array, i);
    if (!JSON_NODE_HOLDS_VALUE(item) || json_node_get_value_type(item) != G_TYPE_STRING)
      throw std::invalid_argument(wrong);
    list.emplace_back(json_node_get_string(item));
  }
  return list;
}

FaultTarget parse_target(const std::string &text) {
  if (text == "submit") return FaultTarget::Submit;
  if (text == "status") return FaultTarget::Status;
  if (text == "download") return FaultTarget::Download;
  if (text == "any") return FaultTarget::Any;
  throw std::invalid_argument("fault rule: \"match\" must be submit, status, download or any");
}

FaultRule parse_rule(JsonNode *node) {
  if (!JSON_NODE_HOLDS_OBJECT(node)) throw std::invalid_argument("fault rule: not a JSON object");
  JsonObject *object = json_node_get_object(node);
  GList *names = json_object_get_members(object);
  for (GList *name = names; name; name = name->next) {
    const char *key = static_cast<const char *>(name->data);
    if (std::none_of(std::begin(kKnownKeys), std::end(kKnownKeys),
                     [key](const char *known) { return g_strcmp0(known, key) == 0; })) {
      std::string message = std::string("fault rule: unknown key \"") + key + "\"";
      g_list_free(names);
      throw std::invalid_argument(message);
    }
  }
  g_list_free(names);

  FaultRule rule;
  auto match = string_member(object, "match");
  if (!match) throw std::invalid_argument("fault rule: \"match\" is required");
  rule.match = parse_target(*match);
  rule.path = string_member(object, "path");
  if (rule.path && (*rule.path)[0] != '/')
    throw std::invalid_argument("fault rule: \"path\" must start with /");
  rule.skip = int_member(object, "skip").value_or(0);
  rule.times = int_member(object, "times").value_or(1);
  if (rule.skip < 0) throw std::invalid_argument("fault rule: \"skip\" must be >= 0");
  if (rule.times < -1) throw std::invalid_argument("fault rule: \"times\" must be >= -1");
  if (auto status = int_member(object, "status")) {
    if (*status < 100 || *status > 599)
      throw std::invalid_argument("fault rule: \"status\" must be 100..599");
    rule.status = static_cast<int>(*status);
  }
  rule.body = string_member(object, "body");
  rule.content_type = string_member(object, "content_type").value_or(rule.content_type);
  JsonNode *retry_after = member(object, "retry_after");
  if (retry_after && JSON_NODE_HOLDS_VALUE(retry_after) &&
      json_node_get_value_type(retry_after) == G_TYPE_INT64)
    rule.retry_after = std::to_string(json_node_get_int(retry_after));
  else
    rule.retry_after = string_member(object, "retry_after");
  rule.drop_connection = bool_member(object, "drop_connection");
  rule.cut_at = int_member(object, "cut_at");
  if (rule.cut_at && *rule.cut_at < 0)
    throw std::invalid_argument("fault rule: \"cut_at\" must be >= 0");
  rule.stall_after_headers = bool_member(object, "stall_after_headers");
  rule.rate = int_member(object, "rate");
  if (rule.rate && *rule.rate <= 0) throw std::invalid_argument("fault rule: \"rate\" must be > 0");
  rule.redirect_to = string_member(object, "redirect_to");
  rule.state_field = string_member(object, "state_field");
  rule.state_text = string_member(object, "state_text");
  rule.task_outcome = string_member(object, "task_outcome");
  if (rule.task_outcome && *rule.task_outcome != "failed" && *rule.task_outcome != "expired" &&
      *rule.task_outcome != "cancelled")
    throw std::invalid_argument(
        "fault rule: \"task_outcome\" must be failed, expired or cancelled");
  rule.sync_timeout = bool_member(object, "sync_timeout");
  rule.malformed_json = bool_member(object, "malformed_json");
  rule.huge_body_bytes = int_member(object, "huge_body_bytes");
  if (rule.huge_body_bytes && (*rule.huge_body_bytes < 16 || *rule.huge_body_bytes > (1 << 30)))
    throw std::invalid_argument("fault rule: \"huge_body_bytes\" must be 16..1073741824");
  rule.invalid_utf8 = bool_member(object, "invalid_utf8");
  rule.html = bool_member(object, "html");
  rule.warnings = string_list_member(object, "warnings");
  if (!rule.warnings.empty() && rule.match != FaultTarget::Submit)
    throw std::invalid_argument("fault rule: \"warnings\" needs \"match\":\"submit\"");
  rule.chunked = bool_member(object, "chunked");
  rule.no_length = bool_member(object, "no_length");
  if (rule.chunked && rule.no_length)
    throw std::invalid_argument("fault rule: \"chunked\" and \"no_length\" exclude each other");
  rule.endless = bool_member(object, "endless");
  rule.gzip = bool_member(object, "gzip");
  rule.ignore_range = bool_member(object, "ignore_range");
  if (rule.ignore_range && rule.match != FaultTarget::Download)
    throw std::invalid_argument("fault rule: \"ignore_range\" needs \"match\":\"download\"");
  rule.status_of = string_member(object, "status_of");
  if (rule.status_of && rule.match != FaultTarget::Status)
    throw std::invalid_argument("fault rule: \"status_of\" needs \"match\":\"status\"");
  rule.prompt = string_member(object, "prompt");
  if (rule.prompt && rule.match != FaultTarget::Submit)
    throw std::invalid_argument("fault rule: \"prompt\" needs \"match\":\"submit\"");
  rule.latency_ms = int_member(object, "latency_ms");
  if (rule.latency_ms && rule.match != FaultTarget::Submit)
    throw std::invalid_argument("fault rule: \"latency_ms\" needs \"match\":\"submit\"");
  if (rule.latency_ms && (*rule.latency_ms < 0 || *rule.latency_ms > kMaxHoldMs))
    throw std::invalid_argument("fault rule: \"latency_ms\" must be 0..600000");
  rule.hold_ms = int_member(object, "hold_ms");
  if (rule.hold_ms && (*rule.hold_ms < 0 || *rule.hold_ms > kMaxHoldMs))
    throw std::invalid_argument("fault rule: \"hold_ms\" must be 0..600000");
  rule.description = node_to_text(node);
  return rule;
}

}  // namespace

bool FaultRule::replaces_answer() const {
  return status || body || drop_connection || redirect_to || malformed_json || huge_body_bytes ||
         invalid_utf8 || html;
}

bool FaultRule::shapes_transport() const {
  return drop_connection || cut_at || stall_after_headers || rate || chunked || no_length ||
         endless;
}

std::vector<FaultRule> parse_fault_rules(const std::string &json) {
  JsonParser *parser = json_parser_new();
  GError *error = nullptr;
  if (!json_parser_load_from_data(parser, json.data(), static_cast<gssize>(json.size()), &error)) {
    std::string message = std::string("fault rules: not JSON: ") + error->message;
    g_error_free(error);
    g_object_unref(parser);
    throw std::invalid_argument(message);
  }
  std::vector<FaultRule> rules;
  try {
    JsonNode *root = json_parser_get_root(parser);
    if (root && JSON_NODE_HOLDS_ARRAY(root)) {
      JsonArray *array = json_node_get_array(root);
      for (guint i = 0; i < json_array_get_length(array); ++i)
        rules.push_back(parse_rule(json_array_get_element(array, i)));
    } else if (root) {
      rules.push_back(parse_rule(root));
    }
  } catch (...) {
    g_object_unref(parser);
    throw;
  }
  g_object_unref(parser);
  return rules;
}

void FaultInjector::add(std::vector<FaultRule> rules) {
  std::lock_guard<std::mutex> guard(lock_);
  for (auto &rule : rules) rules_.push_back(std::move(rule));
}

void FaultInjector::clear() {
  std::lock_guard<std::mutex> guard(lock_);
  rules_.clear();
}

std::optional<FaultRule> FaultInjector::take(FaultTarget target, const std::string &path,
                                             const std::string &prompt) {
  std::lock_guard<std::mutex> guard(lock_);
  for (auto &rule : rules_) {
    if (rule.times == 0) continue;
    if (rule.match != FaultTarget::Any && rule.match != target) continue;
    if (rule.path && *rule.path != path) continue;
    if (rule.prompt && *rule.prompt != prompt) continue;
    if (rule.skip > 0) {
      --rule.skip;
      continue;
    }
    if (rule.times > 0) --rule.times;
    return rule;
  }
  return std::nullopt;
}

}  // namespace see2ai::dev
