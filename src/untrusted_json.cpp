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

}  // namespace see2ai
