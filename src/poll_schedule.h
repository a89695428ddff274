// PollSchedule: the interval between status polls of a task: fixed when configured, else adaptive
// (start short so fast tasks are noticed quickly, grow so long tasks cost few requests).
#pragma once

#include <chrono>
#include <optional>

namespace see2ai {

class PollSchedule {
 public:
  // fixed_interval_ms > 0: always that; otherwise adaptive.
  explicit PollSchedule(int fixed_interval_ms);

  // The wait before the next poll. A server hint (Retry-After on a status answer) overrides the
  // schedule for this one wait, capped at kMaxHint.
  std::chrono::milliseconds next(std::optional<std::chrono::milliseconds> server_hint);

  static constexpr std::chrono::milliseconds kFirst{500};
  static constexpr std::chrono::milliseconds kLongest{5000};
  static constexpr std::chrono::milliseconds kMaxHint{60000};

 private:
  std::optional<std::chrono::milliseconds> fixed_;
  std::chrono::milliseconds current_ = kFirst;
};

}  // namespace see2ai
