// ClipCache: finished clips on disk by request key, and the journal of tasks being waited on, so a
// request is paid for once. Layout: <dir>/clips/<key>-<i>.mp4, <dir>/clips/<key>.json (the task's
// output, written last: it marks the entry complete), <dir>/journal/<key>.json ({"task_id": ...}),
// <dir>/locks/<key>.lock (see KeyLock). Beside them: <dir>/requests/<key>.json (request_record.h)
// and <dir>/locks/<key>.play (play_hold.h).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "growing_file.h"
#include "task_output.h"

namespace see2ai {

// An exclusive claim on one request key, between threads and processes alike (flock(2) on the
// key's lock file; the kernel drops it when its process dies). A run holds it from before its cache
// lookup until its clip is stored or it fails, so a second run of the same request waits and then
// finds the clip, or the journal of a run that died, instead of paying for the clip again.
class KeyLock {
 public:
  // Opens (creates) the lock file. Throws std::runtime_error.
  explicit KeyLock(const std::string &path);
  ~KeyLock();
  KeyLock(const KeyLock &) = delete;
  KeyLock &operator=(const KeyLock &) = delete;

  // Non-blocking; true once this object holds the claim, false while another one does. Throws
  // std::runtime_error when the file system cannot lock.
  bool try_acquire();

 private:
  int fd_;
};

class ClipCache {
 public:
  ClipCache(std::string dir, std::string key);

  // Creates clips/, journal/ and locks/. Throws std::runtime_error.
  void prepare() const;

  std::string clip_path(size_t index) const;
  // An empty file at clip_path(index) for a download. Throws std::runtime_error.
  std::shared_ptr<GrowingFile> create_clip(size_t index) const;

  // The output of a finished clip whose files are all present. Nothing on a miss; a damaged entry
  // is a miss too, described in *problem.
  std::optional<TaskOutput> lookup(std::string *problem) const;
  // Marks the clips written at clip_path(0..n-1) as a finished entry. Throws std::runtime_error.
  void store(const TaskOutput &output) const;
  // Drops the entry so a new generation can replace it.
  void forget() const;

  // The task a previous run was waiting on. A damaged entry is removed and described in *problem.
  std::optional<std::string> journal_task(std::string *problem) const;
  // Written atomically (temp file + rename). Throws std::runtime_error.
  void write_journal(const std::string &task_id) const;
  void remove_journal() const;

  // The key's lock, not yet acquired. Throws std::runtime_error.
  std::unique_ptr<KeyLock> key_lock() const;

  // Where the entry and the journal entry live (the cache inventory reads them as they are).
  std::string entry_path() const;
  std::string journal_path() const;

 private:
  std::string dir_;
  std::string key_;
};

}  // namespace see2ai
