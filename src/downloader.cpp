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
    // A file-size limit (EFBIG) stops a write the way a full disk does.
    if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)
      throw ServiceError(ErrorKind::NoSpace, std::string("no space left for the clip: ") + what +
                                                 " " + path_ + " (" + strerror(errno) + ")");
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

constexpr uint64_t kUnknownSize = UINT64_MAX;

ServiceError too_large(const std::string &url, uint64_t max_bytes, const std::string &what) {
  return ServiceError(ErrorKind::Failed, "the result host " + what + " for " + url +
                                             ", more than the cap of " + describe_size(max_bytes) +
                                             " on a result file (no clip of the service comes "
                                             "near it): the download was stopped");
}

}  // namespace

std::string describe_size(uint64_t bytes) {
  constexpr uint64_t kMiB = 1024 * 1024;
  if (bytes >= kMiB && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  return std::to_string(bytes) + " bytes";
}

Downloader::Downloader(HttpTransport &transport, RunControl &control, const RetryPolicy &policy,
                       uint64_t max_bytes, WholeFileCheck check)
    : transport_(transport),
      control_(control),
      policy_(policy),
      max_bytes_(max_bytes),
      check_(std::move(check)) {}

void Downloader::download(const std::string &url, GrowingFile &file,
                          const std::function<void()> &started) {
  ClipWriter writer(file.path());
  std::vector<uint8_t> chunk(64 * 1024);
  uint64_t written = 0;    // bytes of the clip on disk, from offset 0
  uint64_t reached = 0;    // the most that was ever on disk: progress means getting past it
  uint64_t announced = 0;  // the most the reader has been told about
  // The file's size by the host's word; kUnknownSize until it gives one.
  uint64_t total = kUnknownSize;
  // A host that compresses the body: offsets into what it sends are not offsets into the file, so
  // it is never asked for a Range and every attempt starts from the first byte.
  bool encoded = false;
  bool notified = false;
  int failures = 0;

  for (;;) {
    const uint64_t reached_before = reached;
    std::optional<std::chrono::milliseconds> retry_after;
    std::string failure;
    std::string failure_detail;
    ErrorKind failure_kind = ErrorKind::Read;
    int failure_status = 0;
    bool body_ended = false;  // the host sent all it means to send (whole, or so it seems)
    try {
      HttpRequest request;
      request.url = url;
      if (encoded) written = 0;
      if (written > 0) request.range_from = written;
      std::unique_ptr<HttpResponse> response = transport_.send(request);
      int status = response->status();
      std::optional<uint64_t> unsatisfied = response->unsatisfied_range_size();
      if (status == 416 && written > 0 && written == unsatisfied.value_or(total)) {
        // Nothing lies past what is here: the file is all on disk.
        total = written;
        body_ended = true;
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
        if (std::optional<std::string> encoding = response->content_encoding()) {
          if (!response->decode_content())
            throw ServiceError(ErrorKind::BadMedia, "the result host sent " + url + " in the " +
                                                        *encoding +
                                                        " encoding, which this client cannot read");
          // Its Content-Length counts compressed bytes: the file's size is unknown.
          encoded = true;
          total = kUnknownSize;
          if (status == 206)
            throw TransportError(TransportFailure::Interrupted,
                                 "the result host resumed " + url + " compressed");
        } else {
          std::optional<uint64_t> length = response->content_length();
          if (status == 206 && whole >= 0)
            total = static_cast<uint64_t>(whole);
          else if (length)
            total = written + *length;
        }
        if (total != kUnknownSize && total > max_bytes_)
          throw too_large(url, max_bytes_, "announces " + std::to_string(total) + " bytes");
        if (is_html(*response))
          throw ServiceError(
              ErrorKind::BadMedia,
              "the result host answered " + url + " with an HTML page instead of the clip", status);
        if (total != kUnknownSize) file.set_expected_size(total);
        if (!notified) {
          notified = true;
          started();
        }
        while (size_t got = response->read(chunk.data(), chunk.size())) {
          if (written + got > max_bytes_) throw too_large(url, max_bytes_, "sent more");
          if (total != kUnknownSize && written + got > total)
            throw ServiceError(ErrorKind::Read, "the result host sent more than Content-Length");
          writer.write_at(written, chunk.data(), got);
          written += got;
          reached = std::max(reached, written);
          if (written > announced) {
            announced = written;
            file.advance(written);
          }
        }
        if (total != kUnknownSize && written < total) {
          failure = "the download of " + url + " was cut at " + std::to_string(written) + " of " +
                    std::to_string(total) + " bytes";
        } else if (written < reached) {
          failure = "the download of " + url + " ended at " + std::to_string(written) +
                    " bytes, short of the " + std::to_string(reached) + " an earlier attempt got";
        } else {
          body_ended = true;
        }
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
    if (body_ended) {
      // Bytes past the end (from a longer attempt before) are no part of the clip.
      writer.truncate_to(written);
      std::optional<std::string> problem = check_(file.path());
      if (!problem) break;
      // With the host's own count met, another attempt would get the same bytes.
      if (total != kUnknownSize)
        throw ServiceError(ErrorKind::BadMedia, "the clip at " + url + " came whole (" +
                                                    std::to_string(written) +
                                                    " bytes) but is not playable: " + *problem);
      failure = "the download of " + url + " ended at " + std::to_string(written) +
                " bytes with no length from the host, and the clip is not whole: " + *problem;
      g_debug("%s; resuming", failure.c_str());
    }
    // The retry budget is for attempts that get the file no further: a host that cuts each
    // answer later than the last is followed to the end, one that never gets further is not.
    if (reached > reached_before) failures = 0;
    ++failures;
    if (!policy_.allows_retry(failures))
      throw ServiceError(failure_kind,
                         failure + " (gave up after " + std::to_string(failures - 1) + " retries)",
                         failure_status, {}, {}, failure_detail);
    wait_to_retry(control_, policy_.delay(failures, retry_after),
                  ServiceError(failure_kind, failure, failure_status, {}, {}, failure_detail));
  }
  if (written > announced) file.advance(written);
  file.finish();
}

}  // namespace see2ai
