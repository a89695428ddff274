// ClientConfig: how to reach the service: endpoint, key, network policy and deadlines.
// Filled from the element's properties; the key never leaves this struct except as a header.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace see2ai {

// The most a result file may have: a 15 s 720p clip of the service is some tens of MB, so this is
// far above any real clip and only stops a broken or hostile host from filling the disk.
constexpr uint64_t kDefaultMaxResultBytes = 256ull * 1024 * 1024;

struct ClientConfig {
  std::string api_url = "https://see2ai.com";
  std::string api_key;
  std::string status_path = "/api/v1/status/{task_id}";
  std::string user_agent = "see2ai-gst/0.1";
  std::string proxy;  // empty: system default
  bool ssl_strict = true;
  int retries = 5;           // for polls, downloads, provably-unsent submits, 429
  int poll_interval_ms = 0;  // 0: adaptive (start short, back off)
  int timeout_s = 900;       // submit to last byte of the download
  int read_timeout_s = 30;   // silence on one network read
  uint64_t max_result_bytes = kDefaultMaxResultBytes;  // per result file
  // When set, libsoup's logger reports each request and answer line here ('>' out, '<' in,
  // headers only), the Authorization value replaced by "[REDACTED]".
  std::function<void(char direction, const std::string &line)> http_log;
};

}  // namespace see2ai
