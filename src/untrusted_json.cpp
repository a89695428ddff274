#include "untrusted_json.h"

namespace see2ai {

bool json_nesting_within(const std::string &json, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : json) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

bool load_untrusted_json(JsonParser *parser, const std::string &json, GError **error) {
  if (!json_nesting_within(json, kMaxJsonNesting)) {
    g_set_error(error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE,
                "JSON nested deeper than %d levels", kMaxJsonNesting);
    return false;
  }
  return json_parser_load_from_data(parser, json.data(), static_cast<gssize>(json.size()), error);
}

std::string untrusted_string_member(const std::string &json, const char *name) {
  JsonParser *parser = json_parser_new();
  std::string value;
  if (load_untrusted_json(parser, json, nullptr)) {
    JsonNode *root = json_parser_get_root(parser);
    if (root && JSON_NODE_HOLDS_OBJECT(root)) {
      JsonNode *member = json_object_get_member(json_node_get_object(root), name);
      if (member && JSON_NODE_HOLDS_VALUE(member) &&
          json_node_get_value_type(member) == G_TYPE_STRING)
        value = json_node_get_string(member);
    }
  }
  g_object_unref(parser);
  return value;
}

}  // namespace see2ai
