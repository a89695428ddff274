// ByteRange: reading an HTTP Range header against a file size (one range; several ranges are
// answered with the whole file, which RFC 9110 allows).
#pragma once

#include <cstdint>

namespace see2ai::dev {

enum class RangeAnswer { Whole, Partial, Unsatisfiable };

struct ByteRange {
  int64_t first = 0;
  int64_t last = 0;  // inclusive
};

RangeAnswer resolve_range(const char *header, int64_t size, ByteRange *range);

}  // namespace see2ai::dev
