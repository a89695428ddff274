// ClipVerifier: reads every cached clip through to its end with the element's own decoder and
// drops the damaged ones; the task of a dropped clip goes back to the journal, so it shows as
// pending and the next run (or `see2ai-cache collect`) downloads it again without a new submit.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cache_inventory.h"

namespace see2ai {

enum class VerifyStatus {
  Good,
  Dropped,  // damaged: entry and clip files removed, its task pending again
  InUse,    // an element plays it or a run works on its key: not checked
};

struct VerifyOutcome {
  CachedClip clip;
  VerifyStatus status = VerifyStatus::Good;
  std::string problem;  // for Dropped
};

// Checks every finished entry of `cache_dir`; `on_outcome` hears each as it is known. Throws
// std::runtime_error when a damaged clip cannot be removed.
std::vector<VerifyOutcome> verify_cache(
    const std::string &cache_dir,
    const std::function<void(const VerifyOutcome &)> &on_outcome = nullptr);

}  // namespace see2ai
