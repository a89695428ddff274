// GrowingFile: a file on disk that a downloader appends to while a reader consumes it, so decoding
// can start before the download ends. Reads past what is written wait (cancellably).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace see2ai {

class GrowingFile {
 public:
  // Opens `path` for reading. A file that is already whole: call finish() right away. The file
  // need not exist yet: it is opened on the first read that finds bytes announced by advance().
  explicit GrowingFile(std::string path);
  ~GrowingFile();
  GrowingFile(const GrowingFile &) = delete;
  GrowingFile &operator=(const GrowingFile &) = delete;

  const std::string &path() const { return path_; }

  // Writer side.
  void set_expected_size(uint64_t size);  // from Content-Length, when known
  void advance(uint64_t bytes_on_disk);   // bytes now written and flushed
  void finish();                          // the file is complete
  void fail(const std::string &reason);   // the download failed for good

  // Reader side: reads up to `size` bytes at `offset`. Waits until at least one of them is there
  // (like read(2) on a pipe: the caller loops for the rest), or the file is finished (0 at the
  // end). Returns bytes read; -1 on cancel or failure (see error()), even when bytes are there.
  int64_t read_at(uint64_t offset, uint8_t *buffer, size_t size);
  // The total size once known (Content-Length or finished), else nothing. Does not wait.
  std::optional<uint64_t> known_size() const;
  // Waits until the file is complete; false on cancel or failure.
  bool wait_complete();
  bool complete() const;

  void cancel();  // wakes every waiting reader; they return -1
  void reset_cancel();
  bool cancelled() const;
  std::string error() const;  // the failure reason, "cancelled", or empty

  // Keeps `companion` alive as long as this file: a cached clip's PlayHold lasts while anyone
  // (the element playing it) still has the file.
  void keep_with(std::shared_ptr<const void> companion);

 private:
  std::string path_;
  int fd_ = -1;  // opened lazily, closed only by the destructor, so reads can run unlocked
  mutable std::mutex mutex_;
  std::condition_variable cond_;
  uint64_t available_ = 0;
  std::optional<uint64_t> expected_;
  bool complete_ = false;
  bool cancelled_ = false;
  std::string error_;
  std::shared_ptr<const void> companion_;
};

}  // namespace see2ai
