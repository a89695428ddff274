// UntrustedJson: loads JSON from outside the process (service answers, request bodies) with a
// nesting limit checked first: json-glib parses recursively and deep input overflows the stack.
#pragma once

#include <json-glib/json-glib.h>

#include <string>

namespace see2ai {

// The contract nests two levels; anything far deeper is an attack on the recursive parser
// (100000 '[' crash json-glib).
constexpr int kMaxJsonNesting = 32;

// False when arrays/objects nest deeper than `limit` (brackets inside strings do not count).
bool json_nesting_within(const std::string &json, int limit);

// json_parser_load_from_data after the nesting check: too deep a text fails with a
// JSON_PARSER_ERROR saying so, without reaching the parser.
bool load_untrusted_json(JsonParser *parser, const std::string &json, GError **error);

// The string member `name` of a JSON object text, loaded as above; empty when the text is not an
// object or the member is missing or not a string.
std::string untrusted_string_member(const std::string &json, const char *name);

}  // namespace see2ai
