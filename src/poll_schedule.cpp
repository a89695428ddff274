#include "poll_schedule.h"

#include <algorithm>

namespace see2ai {

namespace {

using std::chrono::milliseconds;

// Around the history's range: half a second, or 2% of the typical time for long tasks (the range
// of a few samples understates the spread a little).
milliseconds window_margin(const ExpectedDuration &expected) {
  return std::max(milliseconds(500), milliseconds(expected.typical_ms / 50));
}

}  // namespace

EndWindow end_window(const ExpectedDuration &expected) {
  milliseconds margin = window_margin(expected);
  EndWindow window;
  window.start = std::max(milliseconds(0), milliseconds(expected.earliest_ms) - margin);
  window.end = milliseconds(expected.latest_ms) + margin;
  // Six polls over a short range; never sparser than kDenseLongest.
  window.dense = std::clamp((window.end - window.start) / 6, PollSchedule::kDenseShortest,
                            PollSchedule::kDenseLongest);
  return window;
}

PollSchedule::PollSchedule(int fixed_interval_ms, std::optional<EndWindow> window)
    : window_(window) {
  if (fixed_interval_ms > 0) fixed_ = milliseconds(fixed_interval_ms);
}

milliseconds PollSchedule::next(std::optional<milliseconds> server_hint, milliseconds elapsed) {
  if (server_hint) return std::min(*server_hint, kMaxHint);
  if (fixed_) return *fixed_;
  if (window_) return in_window(elapsed);
  return adaptive();
}

milliseconds PollSchedule::adaptive() {
  milliseconds interval = current_;
  // x1.5 per poll: 500 ms .. 5 s is reached after 6 polls (~10 s); a minute of generation then
  // costs about 16 requests.
  current_ = std::min(kLongest, current_ * 3 / 2);
  return interval;
}

milliseconds PollSchedule::in_window(milliseconds elapsed) {
  const EndWindow &window = *window_;
  if (elapsed < window.start) {
    // Evenly spaced polls that land on the window's start.
    milliseconds left = window.start - elapsed;
    if (left <= window.dense) return left;
    auto polls = (left.count() + kSparseLongest.count() - 1) / kSparseLongest.count();
    return left / polls;
  }
  if (elapsed < window.end) return window.dense;
  // Later than the history knows: back off from the dense interval as without a history.
  if (current_ < window.dense) current_ = window.dense;
  return adaptive();
}

}  // namespace see2ai
