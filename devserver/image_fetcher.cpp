#include "image_fetcher.h"

#include <libsoup/soup.h>

#include <memory>
#include <stdexcept>

namespace see2ai::dev {

namespace {

bool is_http_url(GUri *uri) {
  const char *scheme = g_uri_get_scheme(uri);
  return scheme &&
         (g_ascii_strcasecmp(scheme, "http") == 0 || g_ascii_strcasecmp(scheme, "https") == 0);
}

GUri *parse_http_url(const std::string &url) {
  GUri *uri = g_uri_parse(url.c_str(), GUriFlags(SOUP_HTTP_URI_FLAGS), nullptr);
  if (!uri) throw std::runtime_error("not a valid URL");
  if (!is_http_url(uri) || !g_uri_get_host(uri) || !*g_uri_get_host(uri)) {
    g_uri_unref(uri);
    throw std::runtime_error("only http and https URLs can be fetched");
  }
  return uri;
}

struct SessionDeleter {
  void operator()(SoupSession *session) const { g_object_unref(session); }
};

std::vector<uint8_t> read_limited(GInputStream *stream, const FetchLimits &limits,
                                  int64_t started_us, GCancellable *cancellable) {
  std::vector<uint8_t> data;
  uint8_t chunk[64 * 1024];
  for (;;) {
    if (g_get_monotonic_time() - started_us > int64_t{limits.timeout_s} * 1000000)
      throw std::runtime_error("took longer than " + std::to_string(limits.timeout_s) + " s");
    GError *error = nullptr;
    gssize got = g_input_stream_read(stream, chunk, sizeof chunk, cancellable, &error);
    if (got < 0) {
      std::string message = std::string("read failed: ") + error->message;
      g_error_free(error);
      throw std::runtime_error(message);
    }
    if (got == 0) return data;
    if (static_cast<int64_t>(data.size()) + got > limits.max_bytes)
      throw std::runtime_error("larger than " + std::to_string(limits.max_bytes) + " bytes");
    data.insert(data.end(), chunk, chunk + got);
  }
}

}  // namespace

std::vector<uint8_t> fetch_url(const std::string &url, const FetchLimits &limits,
                               GCancellable *cancellable) {
  // A private context: the session and its sync I/O belong to this worker thread only.
  GMainContext *context = g_main_context_new();
  g_main_context_push_thread_default(context);
  std::unique_ptr<SoupSession, SessionDeleter> session(
      soup_session_new_with_options("timeout", limits.timeout_s, "idle-timeout", limits.timeout_s,
                                    "user-agent", "see2ai-devserver", nullptr));
  int64_t started_us = g_get_monotonic_time();
  GUri *uri = nullptr;
  std::vector<uint8_t> data;
  std::string failure;
  try {
    uri = parse_http_url(url);
    for (int redirects = 0;; ++redirects) {
      SoupMessage *message = soup_message_new_from_uri("GET", uri);
      // Redirects are followed by hand so each hop is checked (scheme, count).
      soup_message_add_flags(message, SOUP_MESSAGE_NO_REDIRECT);
      GError *error = nullptr;
      GInputStream *stream = soup_session_send(session.get(), message, cancellable, &error);
      if (!stream) {
        std::string text = error->message;
        g_error_free(error);
        g_object_unref(message);
        throw std::runtime_error("cannot connect: " + text);
      }
      guint status = soup_message_get_status(message);
      if (SOUP_STATUS_IS_REDIRECTION(status)) {
        const char *location =
            soup_message_headers_get_one(soup_message_get_response_headers(message), "Location");
        g_object_unref(stream);
        if (!location) {
          g_object_unref(message);
          throw std::runtime_error("redirect without a Location");
        }
        if (redirects >= limits.max_redirects) {
          g_object_unref(message);
          throw std::runtime_error("more than " + std::to_string(limits.max_redirects) +
                                   " redirects");
        }
        GUri *next = g_uri_parse_relative(uri, location, GUriFlags(SOUP_HTTP_URI_FLAGS), nullptr);
        g_object_unref(message);
        if (!next || !is_http_url(next)) {
          if (next) g_uri_unref(next);
          throw std::runtime_error("redirected to a URL that is not http(s)");
        }
        g_uri_unref(uri);
        uri = next;
        continue;
      }
      if (status != SOUP_STATUS_OK) {
        g_object_unref(stream);
        g_object_unref(message);
        throw std::runtime_error("HTTP status " + std::to_string(status));
      }
      goffset declared =
          soup_message_headers_get_content_length(soup_message_get_response_headers(message));
      try {
        if (declared > limits.max_bytes)
          throw std::runtime_error("larger than " + std::to_string(limits.max_bytes) + " bytes");
        data = read_limited(stream, limits, started_us, cancellable);
      } catch (...) {
        g_object_unref(stream);
        g_object_unref(message);
        throw;
      }
      g_object_unref(stream);
      g_object_unref(message);
      break;
    }
  } catch (const std::exception &e) {
    failure = e.what();
  }
  if (uri) g_uri_unref(uri);
  session.reset();
  g_main_context_pop_thread_default(context);
  g_main_context_unref(context);
  if (!failure.empty()) throw std::runtime_error(failure);
  if (data.empty()) throw std::runtime_error("empty body");
  return data;
}

}  // namespace see2ai::dev
