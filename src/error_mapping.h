// ErrorMapping: which failures are worth another attempt and which ErrorKind a final one gets,
// for HTTP statuses (API-NOTES "HTTP errors") and for transport failures.
#pragma once

#include "http_transport.h"
#include "service_error.h"

namespace see2ai {

// 400 Settings, 401/402 NotAuthorized, 429 Busy, anything else Failed.
ErrorKind kind_for_status(int status);
// OpenRead when the request never got through (connect, DNS, TLS, a refused redirect), Read after.
ErrorKind kind_for_transport(TransportFailure failure);

// For requests that are safe to repeat (polls, downloads): 429 and 5xx.
bool is_retryable_status(int status);
// For requests that are safe to repeat: the connection failed or broke.
bool is_retryable_transport(TransportFailure failure);

}  // namespace see2ai
