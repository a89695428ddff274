// TaskHistory: how long finished tasks of one kind (model, resolution, duration) took, from the
// request records in the cache, and what that says about a task being followed now: the time it
// will likely need, an estimate of what is left for progress messages, and the moments worth
// polling at (see PollSchedule).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace see2ai {

struct TaskKind {
  std::string model;  // wire id
  std::string resolution;
  int duration = 0;
};

struct ExpectedDuration {
  int64_t typical_ms = 0;   // the median
  int64_t earliest_ms = 0;  // the range the history spans (an extreme sample left out once there
  int64_t latest_ms = 0;    // are many)
  size_t samples = 0;
};

// At least kMinSamples, of which the kMaxSamples most recent count: one sample says too little,
// and a service's speed drifts.
constexpr size_t kMinHistorySamples = 2;
constexpr size_t kMaxHistorySamples = 20;

// From generation times in ms, most recent first. Nothing below kMinHistorySamples.
std::optional<ExpectedDuration> summarize_history(std::vector<int64_t> recent_first_ms);

// The finished tasks of `kind` recorded in `cache_dir`.
std::optional<ExpectedDuration> expected_duration(const std::string &cache_dir,
                                                  const TaskKind &kind);

struct TimeEstimate {
  int64_t elapsed_ms = 0;
  int64_t typical_ms = 0;
  int64_t remaining_ms = 0;  // to the typical end; 0 once that has passed
  double fraction = 0;       // elapsed / typical, at most kMaxFraction while the task runs
  bool late = false;         // past the latest end the history knows
};

constexpr double kMaxFraction = 0.99;

TimeEstimate estimate_time(const ExpectedDuration &expected, int64_t elapsed_ms);

// "about 40 s left", "about 3 min left", "a few seconds left", "any moment now (usually 42 s)",
// "longer than usual (usually 42 s)".
std::string describe(const TimeEstimate &estimate);

}  // namespace see2ai
