#include "server_log.h"

#include <json-glib/json-glib.h>

namespace see2ai::test {

namespace {

std::string string_member(JsonObject *object, const char *name) {
  JsonNode *node = json_object_get_member(object, name);
  if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
    return {};
  return json_node_get_string(node);
}

}  // namespace

std::vector<LogEntry> read_log(DevServerProcess &server) {
  std::vector<LogEntry> entries;
  for (const auto &line : server.request_log()) {
    JsonParser *parser = json_parser_new();
    if (json_parser_load_from_data(parser, line.c_str(), -1, nullptr) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
      JsonObject *object = json_node_get_object(json_parser_get_root(parser));
      LogEntry entry;
      entry.t_ms = static_cast<long>(json_object_get_int_member_with_default(object, "t_ms", 0));
      entry.received_ms =
          static_cast<long>(json_object_get_int_member_with_default(object, "received_ms", 0));
      entry.status =
          static_cast<int>(json_object_get_int_member_with_default(object, "status", -1));
      entry.tokens =
          static_cast<long>(json_object_get_int_member_with_default(object, "tokens", -1));
      entry.authorization =
          json_object_get_boolean_member_with_default(object, "authorization", FALSE);
      entry.method = string_member(object, "method");
      entry.path = string_member(object, "path");
      entry.event = string_member(object, "event");
      entry.state = string_member(object, "state");
      entry.task_id = string_member(object, "task_id");
      entry.fault = string_member(object, "fault");
      entry.range = string_member(object, "range");
      entries.push_back(entry);
    }
    g_object_unref(parser);
  }
  return entries;
}

size_t count_submits(DevServerProcess &server) {
  return only(read_log(server), [](const LogEntry &e) { return e.is_submit(); }).size();
}

}  // namespace see2ai::test
