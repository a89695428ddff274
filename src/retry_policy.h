// RetryPolicy: how long to wait before the next attempt after a retryable failure (429, 5xx, a
// transport error): exponential backoff with jitter, or the server's Retry-After, always capped.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "run_control.h"
#include "service_error.h"

namespace see2ai {

// Parses a Retry-After value: delta-seconds or an HTTP date (relative to the current time).
// Nothing when the value is neither; a date in the past gives zero.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string &value);

class RetryPolicy {
 public:
  explicit RetryPolicy(int max_retries,
                       std::chrono::milliseconds first_delay = std::chrono::milliseconds(250),
                       std::chrono::milliseconds max_delay = std::chrono::seconds(60));

  // Whether one more attempt is allowed after `failures` consecutive failures.
  bool allows_retry(int failures) const { return failures <= max_retries_; }

  // The wait before retry number `failures` (1 for the first retry). A server's Retry-After
  // replaces the backoff (the server knows best) but is capped like it.
  std::chrono::milliseconds delay(int failures,
                                  std::optional<std::chrono::milliseconds> retry_after) const;

 private:
  int max_retries_;
  std::chrono::milliseconds first_delay_;
  std::chrono::milliseconds max_delay_;
};

// Waits `delay` before retrying after the failure `last`. When the run stops meanwhile (cancelled,
// or past its deadline), throws `last` itself: a timeout that ends the retries still tells what the
// service said last.
void wait_to_retry(RunControl &control, std::chrono::milliseconds delay, const ServiceError &last);

}  // namespace see2ai
