// CacheInventory: what a cache directory holds, read the way GenerationJob writes it (see
// clip_cache.h for the layout, request_record.h and play_hold.h for the parts beside it), and the
// removal rules shared by `see2ai-cache prune` and the element's cache-max-size: least recently
// played first, never a clip an element holds, never while a run works on the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "request_record.h"
#include "task_output.h"

namespace see2ai {

struct CachedClip {
  std::string key;
  std::optional<TaskOutput> output;  // nothing when the entry cannot be read
  std::optional<RequestRecord> record;
  std::vector<std::string> files;  // the key's clip files present on disk
  uint64_t bytes = 0;              // clip files, entry and record
  int64_t stored_at_us = 0;        // when the entry was written
  int64_t last_played_us = 0;      // the last PlayHold, else stored_at_us
  bool held = false;               // an element plays it now
  std::string problem;             // why the entry is unusable (a clip missing...), else empty
};

// A task that was submitted (and will be charged) whose clip is not in the cache: a journal entry
// with no finished entry of the same task beside it.
struct PendingTask {
  std::string key;
  std::string task_id;  // empty: submitted, task id unknown (the submit's answer never came)
  int64_t submitted_at_us = 0;
  std::optional<RequestRecord> record;
  bool in_progress = false;  // a run holds the key now and follows the task itself
};

// Clip files, or a record, of a key with neither a finished entry nor a journal entry: what a
// failed or abandoned download leaves.
struct StrayFiles {
  std::string key;
  std::vector<std::string> files;
  uint64_t bytes = 0;
};

class CacheInventory {
 public:
  explicit CacheInventory(std::string cache_dir);

  // Finished entries (damaged ones too), least recently played first.
  std::vector<CachedClip> clips() const;
  // Oldest first.
  std::vector<PendingTask> pending() const;
  std::vector<StrayFiles> strays() const;

 private:
  std::string dir_;
};

// Results of a task expire about a day after it ends (API-NOTES): the latest moment a pending
// task can still be collected is at least this long after its submit.
constexpr int64_t kResultLifetimeUs = int64_t{24} * 3600 * 1000000;

// The clip files of `key` on disk now (<dir>/clips/<key>-<i>.mp4).
std::vector<std::string> cached_clip_files(const std::string &cache_dir, const std::string &key);

enum class RemovalOutcome { Removed, Held, Busy };

// Removes a cached clip: entry, clip files, its play lock, and its record unless a journal entry
// still needs it. Only while no element holds it and no run holds its key. Throws
// std::runtime_error when a file cannot be removed.
RemovalOutcome remove_cached_clip(const std::string &cache_dir, const CachedClip &clip);
// Removes stray files unless a run holds their key (then false).
bool remove_stray_files(const std::string &cache_dir, const StrayFiles &stray);

struct PruneRules {
  std::optional<uint64_t> max_bytes;     // the cache's size after pruning, at most
  std::optional<int64_t> older_than_us;  // clips last played longer ago than this go
};

struct PruneResult {
  std::vector<CachedClip> removed;
  std::vector<CachedClip> kept_in_use;  // chosen by the rules, but held or busy
  std::vector<StrayFiles> strays_removed;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  // Within max_bytes, and no clip older than older_than_us left (held ones can keep it from that).
  bool rules_met = true;
};

// Strays go first, then clips least recently played first while the cache is over max_bytes or
// the clip is older than older_than_us.
PruneResult prune_cache(const std::string &cache_dir, const PruneRules &rules, int64_t now_us);

}  // namespace see2ai
