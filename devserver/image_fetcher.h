// ImageFetcher: downloads a reference image named by a user URL, the way the service does before it
// accepts a request: http(s) only, bounded size, time and redirects. Runs on a worker thread.
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <string>
#include <vector>

namespace see2ai::dev {

struct FetchLimits {
  int64_t max_bytes = 20 * 1024 * 1024;
  int timeout_s = 10;
  int max_redirects = 3;
};

// The body of `url`. Throws std::runtime_error saying why it could not be fetched (never with
// credentials: the request carries none).
std::vector<uint8_t> fetch_url(const std::string &url, const FetchLimits &limits,
                               GCancellable *cancellable);

}  // namespace see2ai::dev
