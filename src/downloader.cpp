#define G_LOG_DOMAIN "see2ai"

#include "downloader.h"

#include <fcntl.h>
#include <glib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "error_mapping.h"
#include "service_endpoints.h"
#include "service_error.h"
#include "task_output.h"

namespace see2ai {
namespace {

// Owns the writer's descriptor; the GrowingFile's reader has its own.
class ClipWriter {
 public:
  explicit ClipWriter(const std::string &path) : path_(path), fd_(open(path.c_str(), O_WRONLY)) {
    if (fd_ < 0) fail("cannot open");
  }
  ~ClipWriter() { close(fd_); }
  ClipWriter(const ClipWriter &) = delete;
  ClipWriter &operator=(const ClipWriter &) = delete;

  void write_at(uint64_t offset, const uint8_t *data, size_t size) {
    while (size > 0) {
      ssize_t done = pwrite(fd_, data, size, static_cast<off_t>(offset));
      if (done < 0 && errno == EINTR) continue;
      if (done <= 0) fail("cannot write");
      data += done;
      size -= static_cast<size_t>(done);
      offset += static_cast<uint64_t>(done);
    }
  }
  void truncate_to(uint64_t size) {
    if (ftruncate(fd_, static_cast<off_t>(size)) != 0) fail("cannot truncate");
  }

 private:
  [[noreturn]] void fail(const char *what) {
    throw ServiceError(ErrorKind::Read, std::string(what) + " " + path_ + ": " + strerror(errno));
  }
  std::string path_;
  int fd_;
};

bool is_html(const HttpResponse &response) {
  std::optional<std::string> type = response.header("Content-Type");
  return type && g_ascii_strncasecmp(type->c_str(), "text/html", 9) == 0;
}

// What the result host said with an error status, if anything readable. A body that does not
// arrive whole says nothing: the status alone decides (a 404 stays a 404).
std::string body_detail(HttpResponse &response) {
  bool too_large = false;
  try {
    return error_body_message(response.read_body(kMaxAnswerBytes, &too_large));
  } catch (const TransportError &e) {
    if (e.failure == TransportFailure::Stopped) throw;
    return {};
  }
}

}  // namespace

Downloader::Downloader(HttpTransport &transport, RunControl &control, const RetryPolicy &policy)
    : transport_(transport), control_(control), policy_(policy) {}

void Downloader::download(const std::string &url, GrowingFile &file,
                          const std::function<void()> &started) {
  ClipWriter writer(file.path());
  std::vector<uint8_t> chunk(64 * 1024);
  uint64_t written = 0;    // bytes of the clip on disk, from offset 0
  uint64_t announced = 0;  // the most the reader has been told about
  std::optional<uint64_t> total;
  bool notified = false;
  int failures = 0;

  for (;;) {
    std::optional<std::chrono::milliseconds> retry_after;
    std::string failure;
    std::string failure_detail;
    ErrorKind failure_kind = ErrorKind::Read;
    int failure_status = 0;
    try {
      HttpRequest request;
      request.url = url;
      if (written > 0) request.range_from = written;
      std::unique_ptr<HttpResponse> response = transport_.send(request);
      int status = response->status();
      if (status == 416 && total && written == *total) {
        break;
      } else if (status == 200 || status == 206) {
        int64_t first = 0, whole = -1;
        if (status == 206 &&
            (!response->content_range(&first, &whole) || static_cast<uint64_t>(first) != written)) {
          throw ServiceError(ErrorKind::Read,
                             "the result host resumed " + url + " at the wrong offset");
        }
        // A 200 to a Range request is the whole file again: rewrite it from the start. The bytes
        // are the same, so a reader that is ahead is not disturbed.
        if (status == 200) written = 0;
        std::optional<uint64_t> length = response->content_length();
        if (status == 206 && whole >= 0)
          total = static_cast<uint64_t>(whole);
        else if (length)
          total = written + *length;
        if (is_html(*response))
          throw ServiceError(
              ErrorKind::BadMedia,
              "the result host answered " + url + " with an HTML page instead of the clip", status);
        if (total) file.set_expected_size(*total);
        if (!notified) {
          notified = true;
          started();
        }
        while (size_t got = response->read(chunk.data(), chunk.size())) {
          if (total && written + got > *total)
            throw ServiceError(ErrorKind::Read, "the result host sent more than Content-Length");
          writer.write_at(written, chunk.data(), got);
          written += got;
          failures = 0;  // progress: the retry budget is for attempts that get nowhere
          if (written > announced) {
            announced = written;
            file.advance(written);
          }
        }
        if (!total || written == *total) break;
        failure = "the download of " + url + " was cut at " + std::to_string(written) + " of " +
                  std::to_string(*total) + " bytes";
        g_debug("%s; resuming", failure.c_str());
      } else if (is_retryable_status(status)) {
        failure_detail = body_detail(*response);
        failure =
            with_detail("the result host answered HTTP " + std::to_string(status), failure_detail);
        failure_kind = status == 429 ? ErrorKind::Busy : ErrorKind::Failed;
        failure_status = status;
        if (std::optional<std::string> value = response->header("Retry-After"))
          retry_after = parse_retry_after(*value);
      } else {
        std::string detail = body_detail(*response);
        throw ServiceError(
            ErrorKind::Failed,
            with_detail("downloading " + url + " failed: HTTP " + std::to_string(status), detail),
            status, {}, {}, detail);
      }
    } catch (const TransportError &e) {
      if (!is_retryable_transport(e.failure)) throw;
      failure = std::string("downloading ") + url + ": " + e.what();
      failure_kind = kind_for_transport(e.failure);
    }
    ++failures;
    if (!policy_.allows_retry(failures))
      throw ServiceError(failure_kind,
                         failure + " (gave up after " + std::to_string(failures - 1) + " retries)",
                         failure_status, {}, {}, failure_detail);
    wait_to_retry(control_, policy_.delay(failures, retry_after),
                  ServiceError(failure_kind, failure, failure_status, {}, {}, failure_detail));
  }
  writer.truncate_to(written);
  if (written > announced) file.advance(written);
  file.finish();
}

}  // namespace see2ai
