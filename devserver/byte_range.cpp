#include "byte_range.h"

#include <cctype>
#include <cstdlib>
#include <string>

namespace see2ai::dev {

namespace {

bool parse_number(const std::string &text, int64_t *value) {
  if (text.empty() || text.size() > 18) return false;
  for (char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  *value = std::strtoll(text.c_str(), nullptr, 10);
  return true;
}

std::string trimmed(const std::string &text) {
  size_t begin = text.find_first_not_of(" \t");
  size_t end = text.find_last_not_of(" \t");
  return begin == std::string::npos ? std::string() : text.substr(begin, end - begin + 1);
}

}  // namespace

RangeAnswer resolve_range(const char *header, int64_t size, ByteRange *range) {
  if (!header) return RangeAnswer::Whole;
  std::string text = trimmed(header);
  const std::string unit = "bytes=";
  if (text.compare(0, unit.size(), unit) != 0) return RangeAnswer::Whole;
  std::string spec = trimmed(text.substr(unit.size()));
  if (spec.find(',') != std::string::npos) return RangeAnswer::Whole;
  size_t dash = spec.find('-');
  if (dash == std::string::npos) return RangeAnswer::Whole;
  std::string first_text = trimmed(spec.substr(0, dash));
  std::string last_text = trimmed(spec.substr(dash + 1));
  int64_t first = 0;
  int64_t last = 0;
  if (first_text.empty()) {
    int64_t suffix = 0;
    if (!parse_number(last_text, &suffix)) return RangeAnswer::Whole;
    if (suffix == 0 || size == 0) return RangeAnswer::Unsatisfiable;
    range->first = suffix >= size ? 0 : size - suffix;
    range->last = size - 1;
    return RangeAnswer::Partial;
  }
  if (!parse_number(first_text, &first)) return RangeAnswer::Whole;
  if (last_text.empty()) {
    last = size - 1;
  } else {
    if (!parse_number(last_text, &last) || last < first) return RangeAnswer::Whole;
    if (last >= size) last = size - 1;
  }
  if (first >= size) return RangeAnswer::Unsatisfiable;
  range->first = first;
  range->last = last;
  return RangeAnswer::Partial;
}

}  // namespace see2ai::dev
