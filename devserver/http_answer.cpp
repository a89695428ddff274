#include "http_answer.h"

#include <gio/gio.h>

#include <stdexcept>

#include "json_text.h"

namespace see2ai::dev {

namespace {

// A valid JSON object of exactly `size` bytes: {"detail":"xxx..."}.
std::string huge_json(int64_t size) {
  const std::string open = "{\"detail\":\"";
  const std::string close = "\"}";
  int64_t filler = size - static_cast<int64_t>(open.size() + close.size());
  return open + std::string(static_cast<size_t>(filler > 0 ? filler : 0), 'x') + close;
}

}  // namespace

HttpAnswer json_answer(int status, std::string body) {
  HttpAnswer answer;
  answer.status = status;
  answer.body = std::move(body);
  return answer;
}

HttpAnswer fault_answer(const FaultRule &rule) {
  HttpAnswer answer;
  answer.status = rule.status.value_or(200);
  answer.content_type = rule.content_type;
  if (rule.redirect_to) {
    answer.status = rule.status.value_or(302);
    answer.headers.emplace_back("Location", *rule.redirect_to);
    answer.content_type = "text/plain";
  } else if (rule.malformed_json) {
    answer.content_type = "application/json";
    answer.body = "{\"task_id\": \"task-0\", \"state\": \"runn";
  } else if (rule.huge_body_bytes) {
    answer.content_type = "application/json";
    answer.body = huge_json(*rule.huge_body_bytes);
  } else if (rule.invalid_utf8) {
    answer.content_type = "application/json";
    answer.body = "{\"detail\": \"bad bytes \xff\xfe\xc3\x28 here\"}";
  } else if (rule.html) {
    answer.content_type = "text/html; charset=utf-8";
    answer.body =
        "<!DOCTYPE html>\n<html><head><title>Gateway</title></head>"
        "<body><h1>Service temporarily unavailable</h1></body></html>\n";
  } else {
    answer.body = detail_json("injected fault: HTTP " + std::to_string(answer.status));
  }
  if (rule.body) answer.body = *rule.body;
  return answer;
}

std::string gzip_bytes(const std::string &bytes) {
  GZlibCompressor *compressor = g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP, -1);
  std::string compressed;
  char buffer[64 * 1024];
  size_t consumed = 0;
  for (;;) {
    gsize read = 0, written = 0;
    GError *error = nullptr;
    GConverterResult result = g_converter_convert(
        G_CONVERTER(compressor), bytes.data() + consumed, bytes.size() - consumed, buffer,
        sizeof buffer, G_CONVERTER_INPUT_AT_END, &read, &written, &error);
    if (result == G_CONVERTER_ERROR) {
      std::string message = error->message;
      g_error_free(error);
      g_object_unref(compressor);
      throw std::runtime_error("gzip: " + message);
    }
    consumed += read;
    compressed.append(buffer, written);
    if (result == G_CONVERTER_FINISHED) break;
  }
  g_object_unref(compressor);
  return compressed;
}

}  // namespace see2ai::dev
