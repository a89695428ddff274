// Downloader: streams one result URL into a GrowingFile on disk, resuming with Range after a cut
// or a reset, and hands the file over as finished only once it is known whole: the byte count the
// host promised, and a check of the bytes themselves (a host may send no length, or a cut body
// that looks complete). Retries within the job's policy count attempts that get the file no
// further; a result file is capped in size.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "growing_file.h"
#include "http_transport.h"
#include "retry_policy.h"
#include "run_control.h"

namespace see2ai {

// Nothing when the file at `path` is whole; else what is wrong with it (see clip_problem).
using WholeFileCheck = std::function<std::optional<std::string>(const std::string &path)>;

class Downloader {
 public:
  Downloader(HttpTransport &transport, RunControl &control, const RetryPolicy &policy,
             uint64_t max_bytes, WholeFileCheck check);

  // Fills `file` (whose path exists) from `url` and finishes it once `check` finds it whole.
  // `started` runs once, right before the first body bytes are read. A body that ends short of
  // its length, or without a length and failing the check, is resumed with Range; a body that
  // came whole by the host's count and fails the check is BadMedia. More than `max_bytes` is
  // Failed, a full disk NoSpace. Throws ServiceError, TransportError or RunStopped; `file` is
  // left unfinished.
  void download(const std::string &url, GrowingFile &file, const std::function<void()> &started);

 private:
  HttpTransport &transport_;
  RunControl &control_;
  const RetryPolicy &policy_;
  uint64_t max_bytes_;
  WholeFileCheck check_;
};

// "256 MiB", or the byte count when it is no whole number of MiB.
std::string describe_size(uint64_t bytes);

}  // namespace see2ai
