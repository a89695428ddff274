// CacheUnits: sizes and ages as people write them on a command line ("500M", "2G", "7d", "12h")
// and as the cache command shows them ("1.5 MB", "3 h ago").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace see2ai {

// A byte count: digits with an optional fraction and unit K, M, G or T (powers of 1024; "KB",
// "KiB", "MB"... are read alike), or plain bytes. Nothing when malformed or absurdly large.
std::optional<uint64_t> parse_size(const std::string &text);
// A duration: a number with unit s, m (minutes), h, d or w; a plain number is seconds. In
// microseconds; nothing when malformed.
std::optional<int64_t> parse_age(const std::string &text);

// "0 B", "512 B", "1.5 KB", "230.4 MB" (powers of 1024, like parse_size).
std::string format_size(uint64_t bytes);
// "45 s", "12 min", "3 h", "2 d" (the largest unit, rounded down).
std::string format_age(int64_t microseconds);

}  // namespace see2ai
