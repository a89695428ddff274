// Fuzz target for the dev server's request parser: parse_request_json and validate on any POST
// body; a request that parses must survive to_json and parse back to the same request.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "generation_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string body(reinterpret_cast<const char *>(data), size);
  const see2ai::ParsedRequest parsed = see2ai::parse_request_json(body);
  if (parsed.error) {
    // The 400 answer names the field and the rule.
    FUZZ_CHECK(!parsed.error->field.empty());
    FUZZ_CHECK(!parsed.error->message.empty());
    return 0;
  }
  const see2ai::GenerationRequest &request = parsed.request;
  const auto broken = see2ai::validate(request);
  if (broken) FUZZ_CHECK(!broken->field.empty() && !broken->message.empty());
  see2ai::advisories(request);
  see2ai::reference_urls(request);

  const std::string json = see2ai::to_json(request);
  const see2ai::ParsedRequest again = see2ai::parse_request_json(json);
  FUZZ_CHECK(!again.error);
  FUZZ_CHECK(see2ai::to_json(again.request) == json);
  FUZZ_CHECK(see2ai::validate(again.request).has_value() == broken.has_value());
  FUZZ_CHECK(see2ai::cache_key(again.request, "http://127.0.0.1:1") ==
             see2ai::cache_key(request, "http://127.0.0.1:1"));
  return 0;
}
