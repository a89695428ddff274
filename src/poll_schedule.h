// PollSchedule: the interval between status polls of a task: fixed when configured, else adaptive
// (start short so fast tasks are noticed quickly, grow so long tasks cost few requests). With a
// history of such tasks, polls are sparse until the expected end and dense around it.
#pragma once

#include <chrono>
#include <optional>

#include "task_history.h"

namespace see2ai {

// When a task is expected to end, in time since its submit: polls are dense from `start` to `end`,
// spaced `dense` apart.
struct EndWindow {
  std::chrono::milliseconds start{0};
  std::chrono::milliseconds end{0};
  std::chrono::milliseconds dense{0};
};

// The window for a history: its range widened by a margin, polled often enough to notice the end
// within a second or so, more often when the whole range is short.
EndWindow end_window(const ExpectedDuration &expected);

class PollSchedule {
 public:
  // fixed_interval_ms > 0: always that; otherwise adaptive, shaped by `window` when given.
  explicit PollSchedule(int fixed_interval_ms, std::optional<EndWindow> window = std::nullopt);

  // The wait before the next poll, `elapsed` after the task's submit (only a window uses it). A
  // server hint (Retry-After on a status answer) overrides the schedule for this one wait, capped
  // at kMaxHint.
  std::chrono::milliseconds next(std::optional<std::chrono::milliseconds> server_hint,
                                 std::chrono::milliseconds elapsed = std::chrono::milliseconds(0));

  static constexpr std::chrono::milliseconds kFirst{500};
  static constexpr std::chrono::milliseconds kLongest{5000};
  static constexpr std::chrono::milliseconds kMaxHint{60000};
  // Before a window: polls spread evenly up to its start, this far apart at most (a failure early
  // in the task is still noticed, and progress still moves).
  static constexpr std::chrono::milliseconds kSparseLongest{15000};
  // In a window: the interval, at most kDenseLongest (a median delay near 0.6 s), at least
  // kDenseShortest.
  static constexpr std::chrono::milliseconds kDenseLongest{1200};
  static constexpr std::chrono::milliseconds kDenseShortest{250};

 private:
  std::chrono::milliseconds adaptive();
  std::chrono::milliseconds in_window(std::chrono::milliseconds elapsed);

  std::optional<std::chrono::milliseconds> fixed_;
  std::optional<EndWindow> window_;
  std::chrono::milliseconds current_ = kFirst;
};

}  // namespace see2ai
