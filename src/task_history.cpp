#include "task_history.h"

#include <glib.h>
#include <algorithm>

#include "request_record.h"

namespace see2ai {
namespace {

// Below this many samples both extremes count; from it on one at each end is taken for an outlier
// (a queue at the service, a task resumed late) and left out of the range.
constexpr size_t kTrimFrom = 8;

std::string seconds_text(int64_t ms) {
  if (ms < 10000) {
    char text[32];
    g_snprintf(text, sizeof text, "%.1f s", static_cast<double>(ms) / 1000.0);
    return text;
  }
  int64_t seconds = (ms + 500) / 1000;
  if (seconds < 120) return std::to_string(seconds) + " s";
  return std::to_string(seconds / 60) + " min " + std::to_string(seconds % 60) + " s";
}

}  // namespace

std::optional<ExpectedDuration> summarize_history(std::vector<int64_t> recent_first_ms) {
  recent_first_ms.erase(std::remove_if(recent_first_ms.begin(), recent_first_ms.end(),
                                       [](int64_t ms) { return ms <= 0; }),
                        recent_first_ms.end());
  if (recent_first_ms.size() > kMaxHistorySamples) recent_first_ms.resize(kMaxHistorySamples);
  if (recent_first_ms.size() < kMinHistorySamples) return std::nullopt;
  std::vector<int64_t> sorted = recent_first_ms;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  ExpectedDuration expected;
  expected.samples = n;
  expected.typical_ms = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  size_t trim = n >= kTrimFrom ? 1 : 0;
  expected.earliest_ms = sorted[trim];
  expected.latest_ms = sorted[n - 1 - trim];
  return expected;
}

std::optional<ExpectedDuration> expected_duration(const std::string &cache_dir,
                                                  const TaskKind &kind) {
  std::vector<std::pair<int64_t, int64_t>> finished;  // (finished_at_us, generation_ms)
  for (const auto &[key, record] : read_request_records(cache_dir)) {
    if (!record.generation_ms || record.model != kind.model ||
        record.resolution != kind.resolution || record.duration != kind.duration)
      continue;
    finished.emplace_back(record.finished_at_us.value_or(record.submitted_at_us),
                          *record.generation_ms);
  }
  std::sort(finished.begin(), finished.end(),
            [](const auto &a, const auto &b) { return a.first > b.first; });
  std::vector<int64_t> recent_first;
  for (const auto &entry : finished) recent_first.push_back(entry.second);
  return summarize_history(recent_first);
}

TimeEstimate estimate_time(const ExpectedDuration &expected, int64_t elapsed_ms) {
  TimeEstimate estimate;
  estimate.elapsed_ms = std::max<int64_t>(0, elapsed_ms);
  estimate.typical_ms = expected.typical_ms;
  estimate.remaining_ms = std::max<int64_t>(0, expected.typical_ms - estimate.elapsed_ms);
  double fraction = expected.typical_ms > 0 ? static_cast<double>(estimate.elapsed_ms) /
                                                  static_cast<double>(expected.typical_ms)
                                            : kMaxFraction;
  estimate.fraction = std::min(kMaxFraction, fraction);
  estimate.late = estimate.elapsed_ms > expected.latest_ms;
  return estimate;
}

std::string describe(const TimeEstimate &estimate) {
  if (estimate.late) return "longer than usual (usually " + seconds_text(estimate.typical_ms) + ")";
  if (estimate.remaining_ms <= 0)
    return "any moment now (usually " + seconds_text(estimate.typical_ms) + ")";
  if (estimate.remaining_ms < 10000) return "a few seconds left";
  if (estimate.remaining_ms < 60000) {
    int64_t seconds = std::max<int64_t>(10, (estimate.remaining_ms + 2500) / 5000 * 5);
    return "about " + std::to_string(seconds) + " s left";
  }
  int64_t minutes = (estimate.remaining_ms + 30000) / 60000;
  return "about " + std::to_string(minutes) + " min left";
}

}  // namespace see2ai
