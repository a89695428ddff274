// ClipCollector: fetches the clips of pending tasks (paid for, not in the cache) into the cache
// with the job's own poller and downloader, and never submits: what a run that died would have
// done next, before the results expire.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cache_inventory.h"
#include "client_config.h"

namespace see2ai {

enum class CollectStatus {
  Collected,     // downloaded and cached; the journal entry is cleared
  InProgress,    // a run holds the key (it follows the task itself): left alone
  NoTaskId,      // the submit's answer never came: nothing to ask the service about
  StillRunning,  // not finished within the timeout: still pending
  Ended,         // the task failed, was cancelled or expired: nothing to fetch and nothing
                 // charged; the journal entry is cleared
  Gone,          // the service no longer knows the task, or its results are gone; cleared
  Error,         // the network or the disk failed: still pending
};

struct CollectOutcome {
  PendingTask task;
  CollectStatus status = CollectStatus::Error;
  std::string message;  // what happened, in words; the key never appears in it
  uint64_t bytes = 0;   // downloaded, for Collected
};

struct CollectOptions {
  // Key, retries, timeouts; its api_url and status_path serve tasks whose request record is
  // missing (a record names the service the task was submitted to).
  ClientConfig config;
  // How long to follow one task that is still running.
  int timeout_s = 900;
};

// Collects every pending task of `cache_dir`, oldest first; `on_outcome` hears each as it is known.
std::vector<CollectOutcome> collect_pending(
    const std::string &cache_dir, const CollectOptions &options,
    const std::function<void(const CollectOutcome &)> &on_outcome = nullptr);

}  // namespace see2ai
