#include "cache_units.h"

#include <glib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "text_trim.h"

namespace see2ai {
namespace {

// The number at the front of `text` and where it ends; nothing when there is none or it is
// negative.
std::optional<double> leading_number(const std::string &text, std::string *rest) {
  if (text.empty() || !(g_ascii_isdigit(text[0]) || text[0] == '.')) return std::nullopt;
  char *end = nullptr;
  double value = g_ascii_strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(value) || value < 0) return std::nullopt;
  *rest = trimmed(end);
  return value;
}

}  // namespace

std::optional<uint64_t> parse_size(const std::string &text) {
  std::string unit;
  std::optional<double> value = leading_number(trimmed(text), &unit);
  if (!value) return std::nullopt;
  g_autofree char *lower = g_ascii_strdown(unit.c_str(), -1);
  std::string u = lower;
  double scale = 1;
  if (u.empty() || u == "b") {
    scale = 1;
  } else {
    const char *units = "kmgt";
    const char *found = u.size() <= 3 ? strchr(units, u[0]) : nullptr;
    std::string tail = u.substr(1);
    if (!found || !(tail.empty() || tail == "b" || tail == "ib")) return std::nullopt;
    scale = std::pow(1024.0, static_cast<double>(found - units + 1));
  }
  double bytes = std::floor(*value * scale);
  if (bytes > 9.0e18) return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

std::optional<int64_t> parse_age(const std::string &text) {
  std::string unit;
  std::optional<double> value = leading_number(trimmed(text), &unit);
  if (!value) return std::nullopt;
  double seconds = 0;
  if (unit.empty() || unit == "s") {
    seconds = 1;
  } else if (unit == "m" || unit == "min") {
    seconds = 60;
  } else if (unit == "h") {
    seconds = 3600;
  } else if (unit == "d") {
    seconds = 86400;
  } else if (unit == "w") {
    seconds = 7 * 86400;
  } else {
    return std::nullopt;
  }
  double us = *value * seconds * 1e6;
  if (us > 9.0e18) return std::nullopt;
  return static_cast<int64_t>(us);
}

std::string format_size(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const char *units[] = {"KB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < G_N_ELEMENTS(units)) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  g_snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
  return text;
}

std::string format_age(int64_t microseconds) {
  int64_t seconds = std::max<int64_t>(0, microseconds / 1000000);
  if (seconds < 120) return std::to_string(seconds) + " s";
  if (seconds < 2 * 3600) return std::to_string(seconds / 60) + " min";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + " h";
  return std::to_string(seconds / 86400) + " d";
}

}  // namespace see2ai
