#include "clip_cache.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "clip_check.h"
#include "untrusted_json.h"

namespace see2ai {
namespace {

// The entry's own member beside the task's output fields: each clip's size in bytes.
constexpr const char *kClipBytesMember = "clip_bytes";

bool is_no_space(int error_number) {
  return error_number == ENOSPC || error_number == EDQUOT || error_number == EFBIG;
}

// The temp file is flushed to the disk before it replaces `path` (G_FILE_SET_CONTENTS_CONSISTENT).
void write_atomically(const std::string &path, const std::string &contents) {
  GError *error = nullptr;
  if (!g_file_set_contents_full(path.c_str(), contents.data(), static_cast<gssize>(contents.size()),
                                G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error)) {
    std::string message = error->message;
    bool no_space = g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOSPC);
    g_error_free(error);
    throw CacheWriteError("cannot write " + path + ": " + message, no_space);
  }
}

// Flushes a file (or a directory: the names in it) to the disk.
void sync_to_disk(const std::string &path, int flags) {
  int fd = g_open(path.c_str(), O_RDONLY | O_CLOEXEC | flags, 0);
  int failure = fd < 0 ? errno : 0;
  if (fd >= 0) {
    int ret;
    do ret = fsync(fd);
    while (ret != 0 && errno == EINTR);
    if (ret != 0) failure = errno;
    close(fd);
  }
  if (failure != 0)
    throw CacheWriteError("cannot flush " + path + " to the disk: " + strerror(failure),
                          is_no_space(failure));
}

std::string journal_text(const std::string &task_id) {
  JsonBuilder *builder = json_builder_new();
  json_builder_begin_object(builder);
  if (task_id.empty()) {
    json_builder_set_member_name(builder, "submit_sent");
    json_builder_add_boolean_value(builder, TRUE);
  } else {
    json_builder_set_member_name(builder, "task_id");
    json_builder_add_string_value(builder, task_id.c_str());
  }
  json_builder_set_member_name(builder, "written_at_us");
  json_builder_add_int_value(builder, g_get_real_time());
  json_builder_end_object(builder);
  JsonNode *root = json_builder_get_root(builder);
  gchar *text = json_to_string(root, FALSE);
  std::string contents = text;
  g_free(text);
  json_node_unref(root);
  g_object_unref(builder);
  return contents;
}

// The entry: the output object with the clips' sizes added.
std::string entry_text(const TaskOutput &output, const std::vector<int64_t> &sizes) {
  JsonParser *parser = json_parser_new();
  std::string text = to_json(output);
  if (!json_parser_load_from_data(parser, text.c_str(), static_cast<gssize>(text.size()),
                                  nullptr)) {
    g_object_unref(parser);
    throw CacheWriteError("cannot write a cache entry: the output is not JSON", false);
  }
  JsonObject *object = json_node_get_object(json_parser_get_root(parser));
  JsonArray *array = json_array_sized_new(static_cast<guint>(sizes.size()));
  for (int64_t size : sizes) json_array_add_int_element(array, size);
  json_object_set_array_member(object, kClipBytesMember, array);
  gchar *entry = json_to_string(json_parser_get_root(parser), FALSE);
  std::string result = entry;
  g_free(entry);
  g_object_unref(parser);
  return result;
}

// The sizes an entry recorded; nothing for an entry written before sizes were recorded, or one
// whose list is not a list of sizes.
std::optional<std::vector<int64_t>> recorded_sizes(const std::string &text) {
  std::optional<std::vector<int64_t>> sizes;
  JsonParser *parser = json_parser_new();
  if (load_untrusted_json(parser, text, nullptr)) {
    JsonNode *root = json_parser_get_root(parser);
    JsonNode *member = root && JSON_NODE_HOLDS_OBJECT(root)
                           ? json_object_get_member(json_node_get_object(root), kClipBytesMember)
                           : nullptr;
    if (member && JSON_NODE_HOLDS_ARRAY(member)) {
      JsonArray *array = json_node_get_array(member);
      sizes.emplace();
      for (guint i = 0; i < json_array_get_length(array); ++i) {
        JsonNode *item = json_array_get_element(array, i);
        if (!JSON_NODE_HOLDS_VALUE(item) || json_node_get_value_type(item) != G_TYPE_INT64) {
          sizes.reset();
          break;
        }
        sizes->push_back(json_node_get_int(item));
      }
    }
  }
  g_object_unref(parser);
  return sizes;
}

// The boolean member `name` of a JSON object text; false when absent or not a boolean.
bool untrusted_true_member(const std::string &json, const char *name) {
  JsonParser *parser = json_parser_new();
  bool value = false;
  if (load_untrusted_json(parser, json, nullptr)) {
    JsonNode *root = json_parser_get_root(parser);
    JsonNode *member = root && JSON_NODE_HOLDS_OBJECT(root)
                           ? json_object_get_member(json_node_get_object(root), name)
                           : nullptr;
    value = member && JSON_NODE_HOLDS_VALUE(member) &&
            json_node_get_value_type(member) == G_TYPE_BOOLEAN && json_node_get_boolean(member);
  }
  g_object_unref(parser);
  return value;
}

int64_t untrusted_int_member(const std::string &json, const char *name) {
  JsonParser *parser = json_parser_new();
  int64_t value = 0;
  if (load_untrusted_json(parser, json, nullptr)) {
    JsonNode *root = json_parser_get_root(parser);
    JsonNode *member = root && JSON_NODE_HOLDS_OBJECT(root)
                           ? json_object_get_member(json_node_get_object(root), name)
                           : nullptr;
    if (member && JSON_NODE_HOLDS_VALUE(member) && json_node_get_value_type(member) == G_TYPE_INT64)
      value = json_node_get_int(member);
  }
  g_object_unref(parser);
  return value;
}

std::optional<std::string> read_file(const std::string &path) {
  gchar *contents = nullptr;
  gsize length = 0;
  if (!g_file_get_contents(path.c_str(), &contents, &length, nullptr)) return std::nullopt;
  std::string text(contents, length);
  g_free(contents);
  return text;
}

}  // namespace

KeyLock::KeyLock(const std::string &path)
    : fd_(g_open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
  if (fd_ < 0) throw std::runtime_error("cannot open the lock file " + path);
}

KeyLock::~KeyLock() {
  close(fd_);
}

bool KeyLock::try_acquire() {
  int ret;
  do {
    ret = flock(fd_, LOCK_EX | LOCK_NB);
  } while (ret != 0 && errno == EINTR);
  if (ret == 0) return true;
  if (errno == EWOULDBLOCK) return false;
  throw std::runtime_error(std::string("cannot lock a cache entry: ") + g_strerror(errno));
}

ClipCache::ClipCache(std::string dir, std::string key)
    : dir_(std::move(dir)), key_(std::move(key)) {}

void ClipCache::prepare() const {
  for (const char *sub : {"clips", "journal", "locks"}) {
    std::string path = dir_ + "/" + sub;
    if (g_mkdir_with_parents(path.c_str(), 0700) != 0)
      throw std::runtime_error("cannot create the cache directory " + path);
  }
}

std::string ClipCache::clip_path(size_t index) const {
  return dir_ + "/clips/" + key_ + "-" + std::to_string(index) + ".mp4";
}

std::shared_ptr<GrowingFile> ClipCache::create_clip(size_t index) const {
  // An older clip at the path is unlinked, not truncated: a reader still playing it keeps it.
  std::string path = clip_path(index);
  g_remove(path.c_str());
  int fd = g_open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  close(fd);
  return std::make_shared<GrowingFile>(path);
}

std::string ClipCache::entry_path() const {
  return dir_ + "/clips/" + key_ + ".json";
}

std::string ClipCache::journal_path() const {
  return dir_ + "/journal/" + key_ + ".json";
}

CacheLookup ClipCache::lookup() const {
  CacheLookup found;
  std::optional<std::string> text = read_file(entry_path());
  if (!text) return found;
  TaskOutput output;
  try {
    output = parse_task_output(*text);
  } catch (const std::exception &e) {
    found.problem = "ignoring a damaged cache entry " + entry_path() + ": " + e.what();
    // A readable task id still leads to the clip without a new submit.
    found.refetch_task_id = untrusted_string_member(*text, "task_id");
    if (!found.refetch_task_id.empty())
      found.problem += "; its clips are fetched again from task " + found.refetch_task_id;
    return found;
  }
  std::optional<std::vector<int64_t>> sizes = recorded_sizes(*text);
  std::string damage;
  if (output.result_urls.empty()) damage = "the cache entry " + entry_path() + " lists no clips";
  for (size_t i = 0; damage.empty() && i < output.result_urls.size(); ++i) {
    const std::string path = clip_path(i);
    GStatBuf st;
    if (g_stat(path.c_str(), &st) != 0) {
      damage = "the cached clip " + path + " is missing";
    } else if (sizes && (sizes->size() != output.result_urls.size() || (*sizes)[i] != st.st_size)) {
      damage =
          "the cached clip " + path + " has " + std::to_string(st.st_size) + " bytes" +
          (sizes->size() == output.result_urls.size() ? " instead of " + std::to_string((*sizes)[i])
                                                      : std::string());
    } else if (std::optional<std::string> problem = clip_problem(path)) {
      damage = "the cached clip " + path + " is damaged: " + *problem;
    }
  }
  if (damage.empty()) {
    found.hit = output;
    return found;
  }
  found.refetch_task_id = output.task_id;
  found.problem =
      damage + "; it is dropped and fetched again from task " + output.task_id + " (no new submit)";
  return found;
}

void ClipCache::store(const TaskOutput &output) const {
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < output.result_urls.size(); ++i) {
    const std::string path = clip_path(i);
    sync_to_disk(path, 0);
    GStatBuf st;
    if (g_stat(path.c_str(), &st) != 0)
      throw CacheWriteError("cannot read " + path + ": " + strerror(errno), false);
    sizes.push_back(static_cast<int64_t>(st.st_size));
  }
  write_atomically(entry_path(), entry_text(output, sizes));
  sync_to_disk(dir_ + "/clips", O_DIRECTORY);
}

void ClipCache::forget() const {
  g_remove(entry_path().c_str());
}

std::optional<JournalEntry> ClipCache::journal(std::string *problem) const {
  std::optional<std::string> text = read_file(journal_path());
  if (!text) return std::nullopt;
  JournalEntry entry;
  entry.task_id = untrusted_string_member(*text, "task_id");
  entry.written_at_us = untrusted_int_member(*text, "written_at_us");
  if (entry.task_id.empty() && !untrusted_true_member(*text, "submit_sent")) {
    *problem = "ignoring a damaged journal entry " + journal_path();
    remove_journal();
    return std::nullopt;
  }
  return entry;
}

void ClipCache::write_journal(const std::string &task_id) const {
  write_atomically(journal_path(), journal_text(task_id));
}

void ClipCache::write_submit_pending() const {
  write_atomically(journal_path(), journal_text({}));
}

void ClipCache::remove_journal() const {
  g_remove(journal_path().c_str());
}

std::unique_ptr<KeyLock> ClipCache::key_lock() const {
  return std::make_unique<KeyLock>(dir_ + "/locks/" + key_ + ".lock");
}

}  // namespace see2ai
