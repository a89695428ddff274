// Downloader: streams one result URL into a GrowingFile on disk, resuming with Range after a cut
// or a reset, checking the byte count against Content-Length, retrying within the job's policy.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "growing_file.h"
#include "http_transport.h"
#include "retry_policy.h"
#include "run_control.h"

namespace see2ai {

class Downloader {
 public:
  Downloader(HttpTransport &transport, RunControl &control, const RetryPolicy &policy);

  // Fills `file` (whose path exists) from `url` and finishes it. `started` runs once, right before
  // the first body bytes are read. Throws ServiceError, TransportError or RunStopped; `file` is
  // left unfinished.
  void download(const std::string &url, GrowingFile &file, const std::function<void()> &started);

 private:
  HttpTransport &transport_;
  RunControl &control_;
  const RetryPolicy &policy_;
};

}  // namespace see2ai
