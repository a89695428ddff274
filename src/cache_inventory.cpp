#include "cache_inventory.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>

#include "clip_cache.h"
#include "play_hold.h"
#include "untrusted_json.h"

namespace see2ai {
namespace {

constexpr const char *kJson = ".json";
constexpr const char *kMp4 = ".mp4";

struct KeyFiles {
  bool entry = false;
  bool journal = false;
  bool record = false;
  std::vector<std::string> clips;  // paths
};

std::vector<std::string> names_in(const std::string &path) {
  std::vector<std::string> names;
  GDir *dir = g_dir_open(path.c_str(), 0, nullptr);
  if (!dir) return names;
  while (const char *name = g_dir_read_name(dir)) names.emplace_back(name);
  g_dir_close(dir);
  std::sort(names.begin(), names.end());
  return names;
}

bool ends_with(const std::string &text, const char *suffix) {
  size_t n = strlen(suffix);
  return text.size() > n && text.compare(text.size() - n, n, suffix) == 0;
}

std::string without(const std::string &text, const char *suffix) {
  return text.substr(0, text.size() - strlen(suffix));
}

// <key>-<index>.mp4: the key (a hex digest, no '-' in it), or empty for any other name.
std::string clip_key(const std::string &name) {
  if (!ends_with(name, kMp4)) return {};
  size_t dash = name.rfind('-');
  return dash == std::string::npos || dash == 0 ? std::string() : name.substr(0, dash);
}

std::map<std::string, KeyFiles> scan(const std::string &dir) {
  std::map<std::string, KeyFiles> keys;
  for (const std::string &name : names_in(dir + "/clips")) {
    if (ends_with(name, kJson)) {
      keys[without(name, kJson)].entry = true;
    } else if (std::string key = clip_key(name); !key.empty()) {
      keys[key].clips.push_back(dir + "/clips/" + name);
    }
  }
  for (const std::string &name : names_in(dir + "/journal"))
    if (ends_with(name, kJson)) keys[without(name, kJson)].journal = true;
  for (const std::string &name : names_in(dir + "/requests"))
    if (ends_with(name, kJson)) keys[without(name, kJson)].record = true;
  return keys;
}

std::optional<struct stat> stat_of(const std::string &path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

uint64_t size_of(const std::string &path) {
  std::optional<struct stat> st = stat_of(path);
  return st ? static_cast<uint64_t>(st->st_size) : 0;
}

int64_t mtime_us(const struct stat &st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000 + st.st_mtim.tv_nsec / 1000;
}

std::optional<std::string> read_text(const std::string &path) {
  gchar *contents = nullptr;
  gsize length = 0;
  if (!g_file_get_contents(path.c_str(), &contents, &length, nullptr)) return std::nullopt;
  std::string text(contents, length);
  g_free(contents);
  return text;
}

// A journal entry as it is on disk, read without touching it (ClipCache::journal drops damaged
// ones): the task id may be missing (a submit whose answer never came).
struct JournalFile {
  std::string task_id;
  std::optional<int64_t> written_at_us;
};

JournalFile read_journal(const std::string &path) {
  JournalFile entry;
  std::optional<std::string> text = read_text(path);
  if (!text) return entry;
  g_autoptr(JsonParser) parser = json_parser_new();
  if (!load_untrusted_json(parser, *text, nullptr)) return entry;
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) return entry;
  JsonObject *object = json_node_get_object(root);
  JsonNode *id = json_object_get_member(object, "task_id");
  if (id && json_node_get_value_type(id) == G_TYPE_STRING) entry.task_id = json_node_get_string(id);
  if (id && json_node_get_value_type(id) == G_TYPE_INT64)
    entry.task_id = std::to_string(json_node_get_int(id));
  JsonNode *written = json_object_get_member(object, "written_at_us");
  if (written && json_node_get_value_type(written) == G_TYPE_INT64)
    entry.written_at_us = json_node_get_int(written);
  return entry;
}

// Whether an element holds the clip now. The probe takes the exclusive side for an instant.
bool probe_held(const std::string &dir, const std::string &key) {
  try {
    return !RemovalClaim(dir, key).held();
  } catch (const std::runtime_error &) {
    return false;
  }
}

// Whether a run holds the key now. The probe takes the key's lock for an instant.
bool probe_busy(const std::string &dir, const std::string &key) {
  try {
    return !ClipCache(dir, key).key_lock()->try_acquire();
  } catch (const std::runtime_error &) {
    return false;
  }
}

std::optional<TaskOutput> read_entry(const ClipCache &cache) {
  std::optional<std::string> text = read_text(cache.entry_path());
  if (!text) return std::nullopt;
  try {
    return parse_task_output(*text);
  } catch (const std::exception &) {
    return std::nullopt;
  }
}

void remove_file(const std::string &path) {
  if (g_remove(path.c_str()) != 0 && errno != ENOENT)
    throw std::runtime_error("cannot remove " + path + ": " + g_strerror(errno));
}

}  // namespace

std::vector<std::string> cached_clip_files(const std::string &cache_dir, const std::string &key) {
  std::vector<std::string> files;
  for (const std::string &name : names_in(cache_dir + "/clips"))
    if (clip_key(name) == key) files.push_back(cache_dir + "/clips/" + name);
  return files;
}

CacheInventory::CacheInventory(std::string cache_dir) : dir_(std::move(cache_dir)) {}

std::vector<CachedClip> CacheInventory::clips() const {
  std::vector<CachedClip> clips;
  for (const auto &[key, files] : scan(dir_)) {
    if (!files.entry) continue;
    ClipCache cache(dir_, key);
    CachedClip clip;
    clip.key = key;
    clip.output = read_entry(cache);
    CacheLookup found = cache.lookup();
    if (!found.hit)
      clip.problem = found.problem.empty() ? "the entry cannot be read" : found.problem;
    clip.record = read_request_record(dir_, key);
    clip.files = files.clips;
    for (const std::string &path : files.clips) clip.bytes += size_of(path);
    clip.bytes += size_of(cache.entry_path());
    if (files.record) clip.bytes += size_of(request_record_path(dir_, key));
    std::optional<struct stat> entry = stat_of(cache.entry_path());
    clip.stored_at_us = entry ? mtime_us(*entry) : 0;
    clip.last_played_us = last_played_us(dir_, key).value_or(clip.stored_at_us);
    clip.held = probe_held(dir_, key);
    clips.push_back(std::move(clip));
  }
  std::stable_sort(clips.begin(), clips.end(), [](const CachedClip &a, const CachedClip &b) {
    return a.last_played_us != b.last_played_us ? a.last_played_us < b.last_played_us
                                                : a.stored_at_us < b.stored_at_us;
  });
  return clips;
}

std::vector<PendingTask> CacheInventory::pending() const {
  std::vector<PendingTask> tasks;
  for (const auto &[key, files] : scan(dir_)) {
    if (!files.journal) continue;
    ClipCache cache(dir_, key);
    JournalFile journal = read_journal(cache.journal_path());
    if (!journal.task_id.empty() && files.entry) {
      std::optional<TaskOutput> entry = read_entry(cache);
      // The entry of this very task is here: the run stored it and died before clearing the
      // journal entry; nothing is owed (a damaged clip is fetched again from the entry's task).
      if (entry && entry->task_id == journal.task_id) continue;
    }
    PendingTask task;
    task.key = key;
    task.task_id = journal.task_id;
    task.record = read_request_record(dir_, key);
    if (journal.written_at_us) {
      task.submitted_at_us = *journal.written_at_us;
    } else if (task.record && task.record->submitted_at_us > 0) {
      task.submitted_at_us = task.record->submitted_at_us;
    } else if (std::optional<struct stat> st = stat_of(cache.journal_path())) {
      task.submitted_at_us = mtime_us(*st);
    }
    task.in_progress = probe_busy(dir_, key);
    tasks.push_back(std::move(task));
  }
  std::stable_sort(tasks.begin(), tasks.end(), [](const PendingTask &a, const PendingTask &b) {
    return a.submitted_at_us < b.submitted_at_us;
  });
  return tasks;
}

std::vector<StrayFiles> CacheInventory::strays() const {
  std::vector<StrayFiles> strays;
  for (const auto &[key, files] : scan(dir_)) {
    if (files.entry || files.journal || (files.clips.empty() && !files.record)) continue;
    StrayFiles stray;
    stray.key = key;
    stray.files = files.clips;
    if (files.record) stray.files.push_back(request_record_path(dir_, key));
    for (const std::string &path : stray.files) stray.bytes += size_of(path);
    strays.push_back(std::move(stray));
  }
  return strays;
}

RemovalOutcome remove_cached_clip(const std::string &cache_dir, const CachedClip &clip) {
  ClipCache cache(cache_dir, clip.key);
  cache.prepare();
  std::unique_ptr<KeyLock> lock = cache.key_lock();
  if (!lock->try_acquire()) return RemovalOutcome::Busy;
  RemovalClaim claim(cache_dir, clip.key);
  if (!claim.held()) return RemovalOutcome::Held;
  // The entry first: a removal cut short leaves loose clip files (strays), never an entry that
  // points at missing ones.
  remove_file(cache.entry_path());
  for (const std::string &path : cached_clip_files(cache_dir, clip.key)) remove_file(path);
  if (!stat_of(cache.journal_path())) remove_file(request_record_path(cache_dir, clip.key));
  claim.remove_lock_file();
  return RemovalOutcome::Removed;
}

bool remove_stray_files(const std::string &cache_dir, const StrayFiles &stray) {
  ClipCache cache(cache_dir, stray.key);
  cache.prepare();
  std::unique_ptr<KeyLock> lock = cache.key_lock();
  if (!lock->try_acquire()) return false;
  // Under the lock a run may have made them an entry or a journal entry since the scan.
  if (stat_of(cache.entry_path()) || stat_of(cache.journal_path())) return false;
  for (const std::string &path : cached_clip_files(cache_dir, stray.key)) remove_file(path);
  remove_file(request_record_path(cache_dir, stray.key));
  return true;
}

PruneResult prune_cache(const std::string &cache_dir, const PruneRules &rules, int64_t now_us) {
  CacheInventory inventory(cache_dir);
  PruneResult result;
  for (const StrayFiles &stray : inventory.strays()) {
    result.bytes_before += stray.bytes;
    if (remove_stray_files(cache_dir, stray)) result.strays_removed.push_back(stray);
  }
  std::vector<CachedClip> clips = inventory.clips();
  uint64_t total = 0;
  for (const CachedClip &clip : clips) total += clip.bytes;
  result.bytes_before += total;
  bool old_kept = false;
  for (CachedClip &clip : clips) {
    bool over = rules.max_bytes && total > *rules.max_bytes;
    bool old = rules.older_than_us && now_us - clip.last_played_us > *rules.older_than_us;
    if (!over && !old) continue;
    RemovalOutcome outcome = remove_cached_clip(cache_dir, clip);
    if (outcome == RemovalOutcome::Removed) {
      total -= clip.bytes;
      result.removed.push_back(std::move(clip));
    } else {
      clip.held = outcome == RemovalOutcome::Held;
      old_kept |= old;
      result.kept_in_use.push_back(std::move(clip));
    }
  }
  result.bytes_after = total;
  for (const StrayFiles &stray : inventory.strays()) result.bytes_after += stray.bytes;
  result.rules_met = !old_kept && (!rules.max_bytes || result.bytes_after <= *rules.max_bytes);
  return result;
}

}  // namespace see2ai
