// FaultInjector: the dev server's per-request fault rules (TEAM.md rule format), added through
// POST /_dev/faults or --faults, consumed in order by the requests they match.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace see2ai::dev {

enum class FaultTarget { Submit, Status, Download, Any };

struct FaultRule {
  FaultTarget match = FaultTarget::Any;
  std::optional<std::string> path;  // only requests for exactly this path (e.g. one task's status)
  std::optional<std::string> prompt;  // only submits whose prompt is exactly this (one shot)
  int64_t skip = 0;                   // matching requests to let through first
  int64_t times = 1;                  // -1: forever
  std::optional<int> status;
  std::optional<std::string> body;
  std::string content_type = "application/json";
  std::optional<std::string> retry_after;
  bool drop_connection = false;
  std::optional<int64_t> cut_at;
  bool stall_after_headers = false;
  std::optional<int64_t> rate;  // bytes per second
  std::optional<std::string> redirect_to;
  std::optional<std::string> state_field;
  std::optional<std::string> state_text;
  std::optional<std::string> task_outcome;  // failed | expired | cancelled
  bool sync_timeout = false;
  bool malformed_json = false;
  std::optional<int64_t> huge_body_bytes;
  bool invalid_utf8 = false;
  bool html = false;
  bool chunked = false;       // body in chunks (no Content-Length); with cut_at, no final 0-chunk
  bool no_length = false;     // no Content-Length: the body ends where the connection closes
  bool endless = false;       // after the body, filler bytes until the client goes away
  bool gzip = false;          // body gzip-compressed, Content-Encoding: gzip, whatever was asked
  bool ignore_range = false;  // download: the whole file with 200 whatever the Range
  std::optional<std::string> status_of;  // status: the answer is about this task instead
  std::optional<int64_t> hold_ms;        // the answer goes out this much later
  std::optional<int64_t> latency_ms;     // submit: this task takes this long (not --latency-ms)
  std::vector<std::string> warnings;     // submit: advice of the service's own, added to the task's
  std::string description;               // the rule as compact JSON, for the request log

  // True when the rule answers by itself instead of the normal handling (no task is created).
  bool replaces_answer() const;
  // True when the rule changes how the answer's bytes travel (connection taken over).
  bool shapes_transport() const;
};

// Parses a JSON array of rules (or one rule object). Throws std::invalid_argument naming the key.
std::vector<FaultRule> parse_fault_rules(const std::string &json);

class FaultInjector {
 public:
  void add(std::vector<FaultRule> rules);
  void clear();
  // The rule that applies to this request (`path`: the request's path; `prompt`: a submit's
  // prompt), if any; counts it against the rule's skip and times.
  std::optional<FaultRule> take(FaultTarget target, const std::string &path,
                                const std::string &prompt = {});

 private:
  std::mutex lock_;
  std::vector<FaultRule> rules_;
};

}  // namespace see2ai::dev
