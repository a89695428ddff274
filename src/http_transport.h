// HttpTransport: synchronous HTTP on the calling thread with libsoup 3: the key only to the
// api-url's origin, redirects followed by hand (never https->http), proxy, TLS policy, timeouts.
#pragma once

#include <libsoup/soup.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "client_config.h"

namespace see2ai {

// A failure below HTTP: there is no (complete) answer.
enum class TransportFailure {
  NotConnected,  // refused, DNS, unreachable, connect timeout: the request was never sent
  TlsRejected,   // handshake or certificate refused: never sent, retrying cannot help
  Interrupted,   // failed after connecting (reset, cut, silence): the request may have arrived
  Stopped,       // the GCancellable fired (cancel or overall deadline)
  Refused,       // not sent by policy: an unusable URL, https->http, a foreign scheme, or
                 // too many redirects
};

struct TransportError : std::runtime_error {
  TransportError(TransportFailure failure, const std::string &message)
      : std::runtime_error(message), failure(failure) {}
  TransportFailure failure;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::string json_body;               // sent when method is POST
  std::optional<uint64_t> range_from;  // Range: bytes=N-
  bool fresh_connection = false;       // never reuse a kept-alive connection
};

// An answer whose headers are in and whose body is read on demand.
class HttpResponse {
 public:
  HttpResponse(SoupMessage *message, GInputStream *body, GCancellable *cancellable);
  ~HttpResponse();
  HttpResponse(const HttpResponse &) = delete;
  HttpResponse &operator=(const HttpResponse &) = delete;

  int status() const;
  std::string url() const;  // after redirects
  std::optional<std::string> header(const char *name) const;
  std::optional<uint64_t> content_length() const;
  // Content-Range of a 206: first byte and total size (-1 when the total is "*").
  bool content_range(int64_t *first, int64_t *total) const;
  // The size a 416 names ("Content-Range: bytes */N"), when it names one.
  std::optional<uint64_t> unsatisfied_range_size() const;
  // Content-Encoding, lower-case, when it is not "identity": the body is not the resource's bytes.
  std::optional<std::string> content_encoding() const;
  // Reads the rest of the body through a decompressor for the gzip, x-gzip and deflate encodings
  // (a cut or damaged stream is a read error); false for any other encoding.
  bool decode_content();

  // Up to `size` bytes of the body; 0 at its end. Throws TransportError.
  size_t read(uint8_t *buffer, size_t size);
  // The whole body, at most `limit` bytes; *too_large tells if there was more.
  std::string read_body(size_t limit, bool *too_large);

 private:
  SoupMessage *message_;
  GInputStream *body_;
  GCancellable *cancellable_;
};

class HttpTransport {
 public:
  // io_timeout_s: how long one read or connect may stay silent (0: no limit).
  HttpTransport(const ClientConfig &config, GCancellable *cancellable, unsigned io_timeout_s);
  ~HttpTransport();
  HttpTransport(const HttpTransport &) = delete;
  HttpTransport &operator=(const HttpTransport &) = delete;

  // Sends the request (http and https only: any other URL is Refused) and follows up to
  // kMaxRedirects redirects. Throws TransportError.
  std::unique_ptr<HttpResponse> send(const HttpRequest &request);

  static constexpr int kMaxRedirects = 5;

 private:
  GInputStream *send_once(SoupMessage *message);
  static void print_http_line(SoupLogger *logger, SoupLoggerLogLevel level, char direction,
                              const char *data, gpointer self);

  const ClientConfig &config_;
  GCancellable *cancellable_;
  SoupSession *session_;
};

// Whether two absolute URLs share scheme, host and port (default ports filled in).
bool same_origin(const std::string &a, const std::string &b);
// Whether `url` is an absolute http or https URL: nothing else is ever fetched.
bool is_http_url(const std::string &url);

}  // namespace see2ai
