// TaskSubmitter: the one POST that costs money. It is repeated only when it provably never reached
// the service (refused connection, DNS) or was refused with 429, never after an ambiguous failure.
#pragma once

#include <optional>
#include <string>

#include "client_config.h"
#include "generation_request.h"
#include "http_transport.h"
#include "run_control.h"
#include "task_output.h"

namespace see2ai {

struct Submission {
  std::string task_id;
  std::optional<TaskOutput> answer;  // nothing when only the id is known (a sync 504)
};

class TaskSubmitter {
 public:
  TaskSubmitter(const ClientConfig &config, RunControl &control);

  // Sends `request` (already validated). A sync request waits for the task on its own connection
  // with no read timeout: only the overall deadline bounds it. Throws ServiceError, TransportError
  // or RunStopped.
  Submission submit(const GenerationRequest &request, HttpTransport &transport);

  // After submit() threw: whether a POST may have reached the service and been taken on (it was
  // sent and no answer proved otherwise), so it may be charged. False when every attempt provably
  // never arrived or was refused (a 4xx, a task that failed, a connection never made).
  bool may_have_arrived() const { return may_have_arrived_; }

 private:
  const ClientConfig &config_;
  RunControl &control_;
  bool may_have_arrived_ = false;
};

}  // namespace see2ai
