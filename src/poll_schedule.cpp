#include "poll_schedule.h"

#include <algorithm>

namespace see2ai {

PollSchedule::PollSchedule(int fixed_interval_ms) {
  if (fixed_interval_ms > 0) fixed_ = std::chrono::milliseconds(fixed_interval_ms);
}

std::chrono::milliseconds PollSchedule::next(std::optional<std::chrono::milliseconds> server_hint) {
  if (server_hint) return std::min(*server_hint, kMaxHint);
  if (fixed_) return *fixed_;
  std::chrono::milliseconds interval = current_;
  // x1.5 per poll: 500 ms .. 5 s is reached after 6 polls (~10 s); a minute of generation then
  // costs about 16 requests.
  current_ = std::min(kLongest, current_ * 3 / 2);
  return interval;
}

}  // namespace see2ai
