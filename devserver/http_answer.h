// HttpAnswer: one answer of the dev server before it is sent (status, headers, body), and the
// answers fault rules make up in place of the real one (TEAM.md rule format).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "fault_injector.h"

namespace see2ai::dev {

struct HttpAnswer {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

HttpAnswer json_answer(int status, std::string body);

// The answer a rule with replaces_answer() sends instead of the real handling.
HttpAnswer fault_answer(const FaultRule &rule);

// `bytes` compressed in the gzip format (for a rule's "gzip").
std::string gzip_bytes(const std::string &bytes);

}  // namespace see2ai::dev
