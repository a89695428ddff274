// Fuzz target for the service response parser: parse_task_output and error_body_message on any
// body a server may send; what parses must survive to_json and parse back unchanged.
#include <glib.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fuzz_check.h"
#include "task_output.h"

namespace {

bool same_output(const see2ai::TaskOutput &a, const see2ai::TaskOutput &b) {
  return a.input_tokens == b.input_tokens && a.output_tokens == b.output_tokens &&
         a.total_tokens == b.total_tokens && a.model == b.model && a.source == b.source &&
         a.cost_points == b.cost_points && a.result_urls == b.result_urls &&
         a.task_id == b.task_id && a.cost_time == b.cost_time && a.state_text == b.state_text &&
         a.state == b.state && a.provider_config_id == b.provider_config_id &&
         a.error_message == b.error_message && a.warnings == b.warnings;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string body(reinterpret_cast<const char *>(data), size);
  try {
    const see2ai::TaskOutput output = see2ai::parse_task_output(body);
    FUZZ_CHECK(!output.task_id.empty());
    FUZZ_CHECK(same_output(output, see2ai::parse_task_output(see2ai::to_json(output))));
  } catch (const std::runtime_error &) {
    // Not an output object: the caller reports it; only a crash or a hang would be a finding.
  }
  // The message goes into logs and GErrors: valid UTF-8, one line, bounded whatever the body.
  const std::string message = see2ai::error_body_message(body);
  FUZZ_CHECK(g_utf8_validate(message.data(), static_cast<gssize>(message.size()), nullptr));
  FUZZ_CHECK(message.find('\n') == std::string::npos);
  FUZZ_CHECK(message.size() <= 4 * 1024);
  return 0;
}
