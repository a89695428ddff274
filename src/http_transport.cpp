#include "http_transport.h"

#include <algorithm>
#include <vector>

#include "text_trim.h"

namespace see2ai {
namespace {

constexpr GUriFlags kHttpUriFlags = static_cast<GUriFlags>(SOUP_HTTP_URI_FLAGS);

struct ConnectProgress {
  bool connecting = false;  // a new connection was being opened
  bool connected = false;   // its TCP (or proxy) connection was up
};

void on_network_event(SoupMessage *, GSocketClientEvent event, GIOStream *, gpointer data) {
  auto *progress = static_cast<ConnectProgress *>(data);
  if (event == G_SOCKET_CLIENT_RESOLVING || event == G_SOCKET_CLIENT_CONNECTING)
    progress->connecting = true;
  if (event == G_SOCKET_CLIENT_CONNECTED) progress->connected = true;
}

gboolean accept_any_certificate(SoupMessage *, GTlsCertificate *, GTlsCertificateFlags, gpointer) {
  return TRUE;
}

TransportFailure classify(const GError *error, const ConnectProgress &progress) {
  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) return TransportFailure::Stopped;
  if (error->domain == G_TLS_ERROR) return TransportFailure::TlsRejected;
  if (error->domain == G_RESOLVER_ERROR ||
      g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
      g_error_matches(error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
      g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE))
    return TransportFailure::NotConnected;
  // A connection that was being opened but never came up cannot have carried the request.
  if (progress.connecting && !progress.connected) return TransportFailure::NotConnected;
  return TransportFailure::Interrupted;
}

[[noreturn]] void throw_gerror(GError *error, const ConnectProgress &progress) {
  TransportFailure failure = classify(error, progress);
  std::string message = error->message;
  g_error_free(error);
  throw TransportError(failure, message);
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string lower(std::string text) {
  for (auto &c : text) c = g_ascii_tolower(c);
  return text;
}

std::string origin_of(const std::string &url) {
  GUri *uri = g_uri_parse(url.c_str(), kHttpUriFlags, nullptr);
  if (!uri) return {};
  std::string scheme = lower(g_uri_get_scheme(uri) ? g_uri_get_scheme(uri) : "");
  std::string host = lower(g_uri_get_host(uri) ? g_uri_get_host(uri) : "");
  int port = g_uri_get_port(uri);
  g_uri_unref(uri);
  if (port < 0) port = scheme == "https" ? 443 : scheme == "http" ? 80 : -1;
  return scheme + "://" + host + ":" + std::to_string(port);
}

}  // namespace

bool is_http_url(const std::string &url) {
  GUri *uri = g_uri_parse(url.c_str(), kHttpUriFlags, nullptr);
  if (!uri) return false;
  std::string scheme = lower(g_uri_get_scheme(uri) ? g_uri_get_scheme(uri) : "");
  bool has_host = g_uri_get_host(uri) && *g_uri_get_host(uri);
  g_uri_unref(uri);
  return has_host && (scheme == "http" || scheme == "https");
}

bool same_origin(const std::string &a, const std::string &b) {
  std::string origin = origin_of(a);
  return !origin.empty() && origin == origin_of(b);
}

HttpResponse::HttpResponse(SoupMessage *message, GInputStream *body, GCancellable *cancellable)
    : message_(message), body_(body), cancellable_(cancellable) {}

HttpResponse::~HttpResponse() {
  g_input_stream_close(body_, nullptr, nullptr);
  g_object_unref(body_);
  g_object_unref(message_);
}

int HttpResponse::status() const {
  return static_cast<int>(soup_message_get_status(message_));
}

std::string HttpResponse::url() const {
  char *text = g_uri_to_string(soup_message_get_uri(message_));
  std::string url = text;
  g_free(text);
  return url;
}

std::optional<std::string> HttpResponse::header(const char *name) const {
  const char *value =
      soup_message_headers_get_one(soup_message_get_response_headers(message_), name);
  if (!value) return std::nullopt;
  return std::string(value);
}

std::optional<uint64_t> HttpResponse::content_length() const {
  SoupMessageHeaders *headers = soup_message_get_response_headers(message_);
  if (soup_message_headers_get_encoding(headers) != SOUP_ENCODING_CONTENT_LENGTH)
    return std::nullopt;
  return static_cast<uint64_t>(soup_message_headers_get_content_length(headers));
}

bool HttpResponse::content_range(int64_t *first, int64_t *total) const {
  goffset start = 0, end = 0, whole = -1;
  if (!soup_message_headers_get_content_range(soup_message_get_response_headers(message_), &start,
                                              &end, &whole))
    return false;
  *first = start;
  *total = whole;
  return true;
}

std::optional<uint64_t> HttpResponse::unsatisfied_range_size() const {
  std::optional<std::string> value = header("Content-Range");
  if (!value) return std::nullopt;
  std::string text = trimmed(*value);
  const std::string prefix = "bytes */";
  if (g_ascii_strncasecmp(text.c_str(), prefix.c_str(), prefix.size()) != 0) return std::nullopt;
  std::string digits = text.substr(prefix.size());
  if (digits.empty() || digits.size() > 19 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return g_ascii_isdigit(c); }))
    return std::nullopt;
  return g_ascii_strtoull(digits.c_str(), nullptr, 10);
}

std::optional<std::string> HttpResponse::content_encoding() const {
  std::optional<std::string> value = header("Content-Encoding");
  if (!value) return std::nullopt;
  std::string encoding = lower(trimmed(*value));
  if (encoding.empty() || encoding == "identity") return std::nullopt;
  return encoding;
}

bool HttpResponse::decode_content() {
  std::optional<std::string> encoding = content_encoding();
  if (!encoding) return true;
  GZlibCompressorFormat format;
  if (*encoding == "gzip" || *encoding == "x-gzip")
    format = G_ZLIB_COMPRESSOR_FORMAT_GZIP;
  else if (*encoding == "deflate")
    format = G_ZLIB_COMPRESSOR_FORMAT_ZLIB;
  else
    return false;
  GZlibDecompressor *decompressor = g_zlib_decompressor_new(format);
  GInputStream *decoded = g_converter_input_stream_new(body_, G_CONVERTER(decompressor));
  g_object_unref(decompressor);
  g_object_unref(body_);  // the converter holds it and closes it with itself
  body_ = decoded;
  return true;
}

size_t HttpResponse::read(uint8_t *buffer, size_t size) {
  GError *error = nullptr;
  gssize got = g_input_stream_read(body_, buffer, size, cancellable_, &error);
  if (got < 0) throw_gerror(error, ConnectProgress{true, true});
  return static_cast<size_t>(got);
}

std::string HttpResponse::read_body(size_t limit, bool *too_large) {
  std::string body;
  std::vector<uint8_t> chunk(16384);
  *too_large = false;
  while (size_t got = read(chunk.data(), chunk.size())) {
    if (body.size() + got > limit) {
      *too_large = true;
      return body;
    }
    body.append(reinterpret_cast<const char *>(chunk.data()), got);
  }
  // libsoup 3.2 ends a cut body like a complete one; only the count tells.
  std::optional<uint64_t> expected = content_length();
  if (expected && body.size() < *expected)
    throw TransportError(TransportFailure::Interrupted, "the answer was cut short");
  return body;
}

HttpTransport::HttpTransport(const ClientConfig &config, GCancellable *cancellable,
                             unsigned io_timeout_s)
    : config_(config), cancellable_(cancellable), session_(soup_session_new()) {
  // Our own Authorization header and byte counts must reach the wire untouched: no auth
  // manager answering challenges, no transparent decompression changing Content-Length.
  soup_session_remove_feature_by_type(session_, SOUP_TYPE_AUTH_MANAGER);
  soup_session_remove_feature_by_type(session_, SOUP_TYPE_CONTENT_DECODER);
  soup_session_set_timeout(session_, io_timeout_s);
  soup_session_set_user_agent(session_, config.user_agent.c_str());
  if (!config.proxy.empty()) {
    GProxyResolver *resolver = g_simple_proxy_resolver_new(config.proxy.c_str(), nullptr);
    soup_session_set_proxy_resolver(session_, resolver);
    g_object_unref(resolver);
  }
  if (config_.http_log) {
    SoupLogger *logger = soup_logger_new(SOUP_LOGGER_LOG_HEADERS);
    soup_logger_set_printer(logger, print_http_line, this, nullptr);
    soup_session_add_feature(session_, SOUP_SESSION_FEATURE(logger));
    g_object_unref(logger);
  }
}

// libsoup's logger prints a Bearer key as it is (it only hides Basic credentials); a server or
// proxy could also echo the key back in a header of its own.
void HttpTransport::print_http_line(SoupLogger *, SoupLoggerLogLevel, char direction,
                                    const char *data, gpointer self) {
  static constexpr char kAuthorization[] = "Authorization:";
  const ClientConfig &config = static_cast<HttpTransport *>(self)->config_;
  if (g_ascii_strncasecmp(data, kAuthorization, sizeof kAuthorization - 1) == 0)
    config.http_log(direction, "Authorization: [REDACTED]");
  else
    config.http_log(direction, replace_all(data, config.api_key, "[REDACTED]"));
}

HttpTransport::~HttpTransport() {
  soup_session_abort(session_);
  g_object_unref(session_);
}

GInputStream *HttpTransport::send_once(SoupMessage *message) {
  ConnectProgress progress;
  gulong handler =
      g_signal_connect(message, "network-event", G_CALLBACK(on_network_event), &progress);
  GError *error = nullptr;
  GInputStream *body = soup_session_send(session_, message, cancellable_, &error);
  g_signal_handler_disconnect(message, handler);
  if (!body) throw_gerror(error, progress);
  return body;
}

std::unique_ptr<HttpResponse> HttpTransport::send(const HttpRequest &request) {
  if (!is_http_url(request.url))
    throw TransportError(TransportFailure::Refused,
                         "refused to fetch " + request.url + ": only http and https URLs are used");
  std::string url = request.url;
  std::string method = request.method;
  for (int hop = 0;; ++hop) {
    SoupMessage *message = soup_message_new(method.c_str(), url.c_str());
    if (!message) throw TransportError(TransportFailure::Refused, "invalid URL: " + url);
    SoupMessageFlags flags = SOUP_MESSAGE_NO_REDIRECT;
    if (request.fresh_connection) flags = SoupMessageFlags(flags | SOUP_MESSAGE_NEW_CONNECTION);
    soup_message_add_flags(message, flags);
    SoupMessageHeaders *headers = soup_message_get_request_headers(message);
    // The key goes to the service only: a result host or a redirect target elsewhere never
    // sees it, whatever the hop.
    if (!config_.api_key.empty() && same_origin(url, config_.api_url))
      soup_message_headers_replace(headers, "Authorization", ("Bearer " + config_.api_key).c_str());
    if (request.range_from)
      soup_message_headers_set_range(headers, static_cast<goffset>(*request.range_from), -1);
    // Byte counts and Range offsets are about the bytes as stored: ask for them unencoded.
    soup_message_headers_replace(headers, "Accept-Encoding", "identity");
    if (method == "POST") {
      GBytes *bytes = g_bytes_new(request.json_body.data(), request.json_body.size());
      soup_message_set_request_body_from_bytes(message, "application/json", bytes);
      g_bytes_unref(bytes);
    }
    if (!config_.ssl_strict)
      g_signal_connect(message, "accept-certificate", G_CALLBACK(accept_any_certificate), nullptr);

    GInputStream *body;
    try {
      body = send_once(message);
    } catch (...) {
      g_object_unref(message);
      throw;
    }
    auto response = std::make_unique<HttpResponse>(message, body, cancellable_);
    int status = response->status();
    std::optional<std::string> location = response->header("Location");
    // A POST is only re-sent where the server asked to keep method and body.
    bool follow =
        is_redirect(status) && location && (method != "POST" || status == 307 || status == 308);
    if (!follow) return response;
    if (hop + 1 > kMaxRedirects)
      throw TransportError(TransportFailure::Refused, "too many redirects from " + url);

    GError *error = nullptr;
    GUri *target = g_uri_parse_relative(soup_message_get_uri(message), location->c_str(),
                                        kHttpUriFlags, &error);
    if (!target) {
      std::string reason = error->message;
      g_error_free(error);
      throw TransportError(TransportFailure::Refused, "bad redirect: " + reason);
    }
    std::string from_scheme = g_uri_get_scheme(soup_message_get_uri(message));
    std::string to_scheme = g_uri_get_scheme(target);
    char *target_text = g_uri_to_string(target);
    std::string next = target_text;
    g_free(target_text);
    g_uri_unref(target);
    if (to_scheme != "http" && to_scheme != "https")
      throw TransportError(TransportFailure::Refused,
                           "refused a redirect to a " + to_scheme + " URL");
    if (from_scheme == "https" && to_scheme == "http")
      throw TransportError(TransportFailure::Refused,
                           "refused a redirect from https to plain http: " + next);
    url = next;
  }
}

}  // namespace see2ai
