// PriceModel: what a request costs in tokens under the dev server's documented price model, and how
// long the clip is when the model decides the duration (-1).
#pragma once

#include <cstdint>

#include "generation_request.h"

namespace see2ai::dev {

struct Price {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t total_tokens = 0;
};

// The requested duration, or 4..15 picked from a hash of the prompt when it is -1.
int clip_seconds(const GenerationRequest &request);

// 480p = 1000, 720p = 2250 per second for the standard model; fast = 80% of that; audio adds 10%.
int64_t tokens_per_second(const GenerationRequest &request);

// input = 10 per reference URL + prompt bytes / 4; output = per-second price x seconds.
Price price_for(const GenerationRequest &request);

}  // namespace see2ai::dev
