#include "error_mapping.h"

namespace see2ai {

ErrorKind kind_for_status(int status) {
  switch (status) {
    case 400:
      return ErrorKind::Settings;
    case 401:
    case 402:
      return ErrorKind::NotAuthorized;
    case 429:
      return ErrorKind::Busy;
    default:
      return ErrorKind::Failed;
  }
}

ErrorKind kind_for_transport(TransportFailure failure) {
  switch (failure) {
    case TransportFailure::NotConnected:
    case TransportFailure::TlsRejected:
    case TransportFailure::Refused:
      return ErrorKind::OpenRead;
    case TransportFailure::Stopped:
      return ErrorKind::Cancelled;
    case TransportFailure::Interrupted:
      break;
  }
  return ErrorKind::Read;
}

std::string describe_status(int status) {
  switch (status) {
    case 400:
      return "the service rejected the request (HTTP 400)";
    case 401:
      return "the service refused the API key (HTTP 401)";
    case 402:
      return "the tenant's balance is too low for this request (HTTP 402)";
    case 429:
      return "the service is busy (HTTP 429)";
    default:
      return "the service answered HTTP " + std::to_string(status);
  }
}

std::string with_detail(const std::string &text, const std::string &detail) {
  return detail.empty() ? text : text + ": " + detail;
}

bool is_retryable_status(int status) {
  return status == 429 || (status >= 500 && status <= 599);
}

bool is_retryable_transport(TransportFailure failure) {
  return failure == TransportFailure::NotConnected || failure == TransportFailure::Interrupted;
}

}  // namespace see2ai
