#include "price_model.h"

namespace see2ai::dev {

namespace {

constexpr int64_t kStandard480pPerSecond = 1000;
constexpr int64_t kStandard720pPerSecond = 2250;
constexpr int64_t kTokensPerReference = 10;
constexpr int64_t kPromptBytesPerToken = 4;

// Percentages in integer arithmetic, rounded half up, so prices never depend on floating point.
int64_t percent_of(int64_t value, int64_t percent) {
  return (value * percent + 50) / 100;
}

uint64_t fnv1a(const std::string &text) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

int clip_seconds(const GenerationRequest &request) {
  if (request.duration != -1) return request.duration;
  return 4 + static_cast<int>(fnv1a(request.prompt.value_or("")) % 12);
}

int64_t tokens_per_second(const GenerationRequest &request) {
  int64_t per_second =
      request.resolution == "480p" ? kStandard480pPerSecond : kStandard720pPerSecond;
  if (request.model == Model::Fast) per_second = percent_of(per_second, 80);
  if (request.generate_audio) per_second = percent_of(per_second, 110);
  return per_second;
}

Price price_for(const GenerationRequest &request) {
  Price price;
  price.input_tokens =
      kTokensPerReference * static_cast<int64_t>(reference_urls(request).size()) +
      static_cast<int64_t>(request.prompt.value_or("").size()) / kPromptBytesPerToken;
  price.output_tokens = tokens_per_second(request) * clip_seconds(request);
  price.total_tokens = price.input_tokens + price.output_tokens;
  return price;
}

}  // namespace see2ai::dev
