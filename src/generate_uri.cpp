#include "generate_uri.h"

#include <stdexcept>

namespace see2ai {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string> split(const std::string &text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

UriParam param_of(const std::string &part) {
  const size_t equals = part.find('=');
  if (equals == std::string::npos || equals == 0)
    throw std::invalid_argument("\"" + part + "\" is not NAME=VALUE");
  return UriParam{decode_percent_escapes(part.substr(0, equals)),
                  decode_percent_escapes(part.substr(equals + 1))};
}

}  // namespace

std::string decode_percent_escapes(const std::string &text) {
  std::string decoded;
  decoded.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      decoded += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      decoded += text[i];
    }
  }
  return decoded;
}

std::vector<UriParam> parse_generate_params(
    const std::string &rest, const std::function<bool(const std::string &)> &is_name) {
  std::vector<UriParam> params;
  if (rest.empty()) return params;
  if (rest[0] == '?') {
    const std::string query = rest.substr(
        1, rest.find('#') == std::string::npos ? std::string::npos : rest.find('#') - 1);
    for (const std::string &part : split(query, '&'))
      if (!part.empty()) params.push_back(param_of(part));
    return params;
  }
  if (rest[0] != '/') throw std::invalid_argument("expected '?' or '/' after see2ai://generate");
  // Segments are joined back onto the previous value until one starts a known parameter. One that
  // looks like NAME=VALUE with a name nobody knows is a mistake, not text: it is refused.
  std::vector<std::string> segments = split(rest.substr(1), '/');
  while (!segments.empty() && segments.back().empty()) segments.pop_back();
  std::vector<std::string> parts;
  for (const std::string &segment : segments) {
    const size_t equals = segment.find('=');
    const std::string name = equals == std::string::npos ? "" : segment.substr(0, equals);
    if (!name.empty() && is_name(name)) {
      parts.push_back(segment);
      continue;
    }
    if (!name.empty() &&
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos)
      throw std::invalid_argument("unknown property \"" + name + "\"");
    if (parts.empty()) throw std::invalid_argument("\"" + segment + "\" is not NAME=VALUE");
    parts.back() += "/" + segment;
  }
  for (const std::string &part : parts)
    if (!part.empty()) params.push_back(param_of(part));
  return params;
}

}  // namespace see2ai
