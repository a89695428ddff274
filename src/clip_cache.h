// ClipCache: finished clips on disk by request key, and the journal of submits and tasks being
// waited on, so a request is paid for once. Layout: <dir>/clips/<key>-<i>.mp4,
// <dir>/clips/<key>.json (the task's output and the clips' sizes, written last and only once every
// clip is whole and on the disk: it marks the entry complete), <dir>/journal/<key>.json,
// <dir>/locks/<key>.lock (see KeyLock). Beside them: <dir>/requests/<key>.json (request_record.h)
// and <dir>/locks/<key>.play (play_hold.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
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

// A cache file could not be written; `no_space` when the disk is full.
struct CacheWriteError : std::runtime_error {
  CacheWriteError(const std::string &message, bool no_space)
      : std::runtime_error(message), no_space(no_space) {}
  bool no_space;
};

// What the cache holds for a request.
struct CacheLookup {
  std::optional<TaskOutput> hit;  // every clip present and whole
  // No hit, but the entry names the task it came from (clips missing or damaged, none listed):
  // its clips can be fetched again from that task without a new submit.
  std::string refetch_task_id;
  std::string problem;  // why an entry that exists is not a hit, in words
};

// The journal entry of a request: what a run that died was doing.
struct JournalEntry {
  // The task being waited on; empty when a submit was sent (or about to be) and no answer was
  // recorded: that submit may have been charged.
  std::string task_id;
  int64_t written_at_us = 0;  // wall clock, for telling the user when
};

class ClipCache {
 public:
  ClipCache(std::string dir, std::string key);

  // Creates clips/, journal/ and locks/. Throws std::runtime_error.
  void prepare() const;

  std::string clip_path(size_t index) const;
  // An empty file at clip_path(index) for a download. Throws std::runtime_error.
  std::shared_ptr<GrowingFile> create_clip(size_t index) const;

  // A hit only when every clip has the size the entry recorded and passes clip_problem.
  CacheLookup lookup() const;
  // Marks the clips written at clip_path(0..n-1) as a finished entry: the clips are flushed to
  // the disk first, then the entry is written atomically and its directory flushed, so a power
  // cut never leaves an entry that points at a partial clip. Throws CacheWriteError.
  void store(const TaskOutput &output) const;
  // Drops the entry so a new generation can replace it.
  void forget() const;

  // The journal entry, if any. A damaged one is removed and described in *problem.
  std::optional<JournalEntry> journal(std::string *problem) const;
  // Both written atomically (temp file + rename). Throw CacheWriteError.
  void write_journal(const std::string &task_id) const;
  void write_submit_pending() const;  // right before a submit is sent
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
