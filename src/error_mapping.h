// ErrorMapping: which failures are worth another attempt, which ErrorKind a final one gets and how
// it is worded, for HTTP statuses (API-NOTES "HTTP errors") and for transport failures.
#pragma once

#include <string>

#include "http_transport.h"
#include "service_error.h"

namespace see2ai {

// 400 Settings, 401/402 NotAuthorized, 429 Busy, anything else Failed.
ErrorKind kind_for_status(int status);
// OpenRead when the request never got through (connect, DNS, TLS, a refused redirect), Read after.
ErrorKind kind_for_transport(TransportFailure failure);

// What an error status means, in words (402 says "balance").
std::string describe_status(int status);
// "text: detail", or just the text when there is no detail.
std::string with_detail(const std::string &text, const std::string &detail);

// For requests that are safe to repeat (polls, downloads): 429 and 5xx.
bool is_retryable_status(int status);
// For requests that are safe to repeat: the connection failed or broke.
bool is_retryable_transport(TransportFailure failure);

}  // namespace see2ai
