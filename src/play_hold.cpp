#include "play_hold.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace see2ai {
namespace {

int flock_retrying(int fd, int operation) {
  int ret;
  do {
    ret = flock(fd, operation);
  } while (ret != 0 && errno == EINTR);
  return ret;
}

// The last play is when a hold begins or ends; a failure to stamp it only makes pruning's order
// less exact.
void touch(int fd) {
  futimens(fd, nullptr);
}

}  // namespace

std::string play_lock_path(const std::string &cache_dir, const std::string &key) {
  return cache_dir + "/locks/" + key + ".play";
}

PlayHold::PlayHold(const std::string &cache_dir, const std::string &key) {
  std::string path = play_lock_path(cache_dir, key);
  fd_ = g_open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::runtime_error("cannot open the play lock " + path);
  if (flock_retrying(fd_, LOCK_SH) != 0) {
    int error = errno;
    close(fd_);
    throw std::runtime_error("cannot lock " + path + ": " + g_strerror(error));
  }
  touch(fd_);
}

PlayHold::~PlayHold() {
  touch(fd_);
  close(fd_);
}

RemovalClaim::RemovalClaim(const std::string &cache_dir, const std::string &key)
    : path_(play_lock_path(cache_dir, key)) {
  // Not created when missing: a clip never played has no last play. Nobody can start holding it
  // meanwhile, as holds are only taken under the key's KeyLock, which the remover holds.
  fd_ = g_open(path_.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd_ < 0) {
    if (errno == ENOENT) {
      held_ = true;
      return;
    }
    throw std::runtime_error("cannot open the play lock " + path_ + ": " + g_strerror(errno));
  }
  if (flock_retrying(fd_, LOCK_EX | LOCK_NB) == 0) {
    held_ = true;
  } else if (errno != EWOULDBLOCK) {
    throw std::runtime_error("cannot lock " + path_ + ": " + g_strerror(errno));
  }
}

RemovalClaim::~RemovalClaim() {
  if (fd_ >= 0) close(fd_);
}

void RemovalClaim::remove_lock_file() {
  if (held_ && fd_ >= 0) g_remove(path_.c_str());
}

std::optional<int64_t> last_played_us(const std::string &cache_dir, const std::string &key) {
  struct stat st {};
  if (stat(play_lock_path(cache_dir, key).c_str(), &st) != 0) return std::nullopt;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000 + st.st_mtim.tv_nsec / 1000;
}

}  // namespace see2ai
