// PlayHold: how a running element holds a cached clip so that pruning never removes it: a shared
// flock(2) on <dir>/locks/<key>.play for as long as the clip's files are in use. The file's mtime
// is the clip's last play (touched when a hold is taken and when it ends).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace see2ai {

// <dir>/locks/<key>.play
std::string play_lock_path(const std::string &cache_dir, const std::string &key);

class PlayHold {
 public:
  // Takes a shared hold (waits while a removal holds the file, which only takes a moment: a
  // removal also holds the key's KeyLock, so it never runs while a run looks the clip up).
  // Throws std::runtime_error when the lock file cannot be opened or locked.
  PlayHold(const std::string &cache_dir, const std::string &key);
  ~PlayHold();
  PlayHold(const PlayHold &) = delete;
  PlayHold &operator=(const PlayHold &) = delete;

 private:
  int fd_;
};

// The exclusive side: succeeds only while nobody plays the clip. Held by whoever removes or
// rewrites a cached clip (prune, eviction, verify), together with the key's KeyLock.
class RemovalClaim {
 public:
  // Non-blocking. Check held() afterwards. Throws std::runtime_error when the lock file cannot be
  // opened (a missing lock file counts as nobody holding). Take it while holding the KeyLock.
  RemovalClaim(const std::string &cache_dir, const std::string &key);
  ~RemovalClaim();
  RemovalClaim(const RemovalClaim &) = delete;
  RemovalClaim &operator=(const RemovalClaim &) = delete;

  bool held() const { return held_; }
  // Removes the lock file itself, while still holding it: every new hold opens a new file.
  void remove_lock_file();

 private:
  std::string path_;
  int fd_ = -1;
  bool held_ = false;
};

// When the clip was last played (the lock file's mtime, microseconds since the epoch); nothing
// when it never was through a PlayHold.
std::optional<int64_t> last_played_us(const std::string &cache_dir, const std::string &key);

}  // namespace see2ai
