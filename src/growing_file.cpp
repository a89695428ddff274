#include "growing_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace see2ai {

GrowingFile::GrowingFile(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
}

GrowingFile::~GrowingFile() {
  if (fd_ >= 0) ::close(fd_);
}

void GrowingFile::set_expected_size(uint64_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  expected_ = size;
}

void GrowingFile::advance(uint64_t bytes_on_disk) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    available_ = std::max(available_, bytes_on_disk);
  }
  cond_.notify_all();
}

void GrowingFile::finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A whole file handed over without advance() calls: its size on disk is what there is.
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0)
      available_ = std::max(available_, static_cast<uint64_t>(st.st_size));
    complete_ = true;
  }
  cond_.notify_all();
}

void GrowingFile::fail(const std::string &reason) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = reason.empty() ? "the download failed" : reason;
  }
  cond_.notify_all();
}

int64_t GrowingFile::read_at(uint64_t offset, uint8_t *buffer, size_t size) {
  if (size == 0) return 0;
  uint64_t end = 0;
  int fd = -1;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    // Handing over what is there at once, rather than waiting for all of `size`, lets a demuxer
    // that asked for a whole buffer go on with the few bytes it needs now.
    cond_.wait(lock,
               [&] { return cancelled_ || !error_.empty() || complete_ || available_ > offset; });
    if (cancelled_ || !error_.empty()) return -1;
    if (offset >= available_) return 0;
    end = std::min(offset + size, available_);
    if (fd_ < 0) {
      fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) {
        error_ = "cannot open " + path_ + ": " + std::strerror(errno);
        cond_.notify_all();
        return -1;
      }
    }
    fd = fd_;
  }
  uint64_t done = 0;
  const uint64_t total = end - offset;
  while (done < total) {
    ssize_t n = ::pread(fd, buffer + done, total - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = "cannot read " + path_ + ": " + std::strerror(errno);
      cond_.notify_all();
      return -1;
    }
    if (n == 0) break;  // shorter on disk than announced: hand over what is there
    done += static_cast<uint64_t>(n);
  }
  return static_cast<int64_t>(done);
}

std::optional<uint64_t> GrowingFile::known_size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (complete_) return available_;
  return expected_;
}

bool GrowingFile::wait_complete() {
  std::unique_lock<std::mutex> lock(mutex_);
  cond_.wait(lock, [&] { return cancelled_ || !error_.empty() || complete_; });
  return complete_ && !cancelled_ && error_.empty();
}

bool GrowingFile::complete() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return complete_;
}

void GrowingFile::cancel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
  }
  cond_.notify_all();
}

void GrowingFile::reset_cancel() {
  std::lock_guard<std::mutex> lock(mutex_);
  cancelled_ = false;
}

bool GrowingFile::cancelled() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cancelled_;
}

std::string GrowingFile::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!error_.empty()) return error_;
  return cancelled_ ? "cancelled" : std::string();
}

void GrowingFile::keep_with(std::shared_ptr<const void> companion) {
  std::lock_guard<std::mutex> lock(mutex_);
  companion_ = std::move(companion);
}

}  // namespace see2ai
