#include "retry_policy.h"

#include <glib.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <cctype>

namespace see2ai {

std::optional<std::chrono::milliseconds> parse_retry_after(const std::string &value) {
  std::string text = value;
  text.erase(0, text.find_first_not_of(" \t"));
  text.erase(text.find_last_not_of(" \t") + 1);
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    // Anything above a day is as good as "forever"; the cap applies later anyway.
    if (text.size() > 6) return std::chrono::milliseconds(std::chrono::hours(24));
    return std::chrono::milliseconds(std::stoll(text) * 1000);
  }
  GDateTime *when = soup_date_time_new_from_http_string(text.c_str());
  if (!when) return std::nullopt;
  GDateTime *now = g_date_time_new_now_utc();
  GTimeSpan ahead_us = g_date_time_difference(when, now);
  g_date_time_unref(now);
  g_date_time_unref(when);
  return std::chrono::milliseconds(std::max<GTimeSpan>(0, ahead_us / 1000));
}

RetryPolicy::RetryPolicy(int max_retries, std::chrono::milliseconds first_delay,
                         std::chrono::milliseconds max_delay)
    : max_retries_(std::max(0, max_retries)), first_delay_(first_delay), max_delay_(max_delay) {}

std::chrono::milliseconds RetryPolicy::delay(
    int failures, std::optional<std::chrono::milliseconds> retry_after) const {
  if (retry_after) return std::min(*retry_after, max_delay_);
  double backoff = static_cast<double>(first_delay_.count());
  for (int i = 1; i < failures && backoff < max_delay_.count(); ++i) backoff *= 2;
  backoff = std::min(backoff, static_cast<double>(max_delay_.count()));
  // Jitter in [50%, 100%] keeps many clients that failed together from retrying together.
  return std::chrono::milliseconds(static_cast<int64_t>(backoff * g_random_double_range(0.5, 1.0)));
}

void wait_to_retry(RunControl &control, std::chrono::milliseconds delay, const ServiceError &last) {
  if (control.sleep_for(delay) != StopReason::None) throw last;
}

}  // namespace see2ai
