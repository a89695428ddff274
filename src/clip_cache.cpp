#include "clip_cache.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "untrusted_json.h"

namespace see2ai {
namespace {

void write_atomically(const std::string &path, const std::string &contents) {
  GError *error = nullptr;
  if (!g_file_set_contents_full(path.c_str(), contents.data(), static_cast<gssize>(contents.size()),
                                G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error)) {
    std::string message = error->message;
    g_error_free(error);
    throw std::runtime_error("cannot write " + path + ": " + message);
  }
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

std::optional<TaskOutput> ClipCache::lookup(std::string *problem) const {
  std::optional<std::string> text = read_file(entry_path());
  if (!text) return std::nullopt;
  TaskOutput output;
  try {
    output = parse_task_output(*text);
  } catch (const std::exception &e) {
    *problem = "ignoring a damaged cache entry " + entry_path() + ": " + e.what();
    return std::nullopt;
  }
  if (output.result_urls.empty()) {
    *problem = "ignoring a cache entry without clips: " + entry_path();
    return std::nullopt;
  }
  for (size_t i = 0; i < output.result_urls.size(); ++i) {
    GStatBuf st;
    if (g_stat(clip_path(i).c_str(), &st) != 0 || st.st_size <= 0) {
      *problem = "ignoring a cache entry whose clip is missing: " + clip_path(i);
      return std::nullopt;
    }
  }
  return output;
}

void ClipCache::store(const TaskOutput &output) const {
  write_atomically(entry_path(), to_json(output));
}

void ClipCache::forget() const {
  g_remove(entry_path().c_str());
}

std::optional<std::string> ClipCache::journal_task(std::string *problem) const {
  std::optional<std::string> text = read_file(journal_path());
  if (!text) return std::nullopt;
  std::string task_id = untrusted_string_member(*text, "task_id");
  if (task_id.empty()) {
    *problem = "ignoring a damaged journal entry " + journal_path();
    remove_journal();
    return std::nullopt;
  }
  return task_id;
}

void ClipCache::write_journal(const std::string &task_id) const {
  JsonBuilder *builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "task_id");
  json_builder_add_string_value(builder, task_id.c_str());
  json_builder_set_member_name(builder, "written_at_us");
  json_builder_add_int_value(builder, g_get_real_time());
  json_builder_end_object(builder);
  JsonNode *root = json_builder_get_root(builder);
  gchar *text = json_to_string(root, FALSE);
  std::string contents = text;
  g_free(text);
  json_node_unref(root);
  g_object_unref(builder);
  write_atomically(journal_path(), contents);
}

void ClipCache::remove_journal() const {
  g_remove(journal_path().c_str());
}

std::unique_ptr<KeyLock> ClipCache::key_lock() const {
  return std::make_unique<KeyLock>(dir_ + "/locks/" + key_ + ".lock");
}

}  // namespace see2ai
