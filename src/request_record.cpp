#include "request_record.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include <cstring>
#include <stdexcept>

#include "file_text.h"
#include "untrusted_json.h"

namespace see2ai {
namespace {

constexpr const char *kSuffix = ".json";

std::string text_member(JsonObject *object, const char *name) {
  JsonNode *node = json_object_get_member(object, name);
  if (!node || json_node_get_value_type(node) != G_TYPE_STRING) return {};
  return json_node_get_string(node);
}

std::optional<int64_t> int_member(JsonObject *object, const char *name) {
  JsonNode *node = json_object_get_member(object, name);
  if (!node || json_node_get_value_type(node) != G_TYPE_INT64) return std::nullopt;
  return json_node_get_int(node);
}

std::optional<RequestRecord> parse_record(const std::string &text) {
  g_autoptr(JsonParser) parser = json_parser_new();
  if (!load_untrusted_json(parser, text, nullptr)) return std::nullopt;
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) return std::nullopt;
  JsonObject *object = json_node_get_object(root);
  RequestRecord record;
  record.prompt = text_member(object, "prompt");
  record.model = text_member(object, "model");
  record.resolution = text_member(object, "resolution");
  record.duration = static_cast<int>(int_member(object, "duration").value_or(0));
  record.aspect_ratio = text_member(object, "aspect_ratio");
  JsonNode *audio = json_object_get_member(object, "generate_audio");
  record.generate_audio =
      audio && json_node_get_value_type(audio) == G_TYPE_BOOLEAN && json_node_get_boolean(audio);
  record.api_url = text_member(object, "api_url");
  record.status_path = text_member(object, "status_path");
  record.submitted_at_us = int_member(object, "submitted_at_us").value_or(0);
  record.finished_at_us = int_member(object, "finished_at_us");
  record.generation_ms = int_member(object, "generation_ms");
  if (record.generation_ms && *record.generation_ms <= 0) record.generation_ms.reset();
  return record;
}

std::string to_json(const RequestRecord &record) {
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_object(builder);
  auto add_text = [&](const char *name, const std::string &value) {
    json_builder_set_member_name(builder, name);
    g_autofree char *valid = g_utf8_make_valid(value.data(), static_cast<gssize>(value.size()));
    json_builder_add_string_value(builder, valid);
  };
  auto add_int = [&](const char *name, int64_t value) {
    json_builder_set_member_name(builder, name);
    json_builder_add_int_value(builder, value);
  };
  add_text("prompt", record.prompt);
  add_text("model", record.model);
  add_text("resolution", record.resolution);
  add_int("duration", record.duration);
  add_text("aspect_ratio", record.aspect_ratio);
  json_builder_set_member_name(builder, "generate_audio");
  json_builder_add_boolean_value(builder, record.generate_audio);
  add_text("api_url", record.api_url);
  add_text("status_path", record.status_path);
  add_int("submitted_at_us", record.submitted_at_us);
  if (record.finished_at_us) add_int("finished_at_us", *record.finished_at_us);
  if (record.generation_ms) add_int("generation_ms", *record.generation_ms);
  json_builder_end_object(builder);
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  g_autoptr(JsonGenerator) generator = json_generator_new();
  json_generator_set_root(generator, root);
  g_autofree char *text = json_generator_to_data(generator, nullptr);
  return text;
}

}  // namespace

RequestRecord record_for(const GenerationRequest &request, const ClientConfig &config) {
  RequestRecord record;
  record.prompt = request.prompt.value_or("");
  record.model = model_id(request.model);
  record.resolution = request.resolution;
  record.duration = request.duration;
  record.aspect_ratio = request.aspect_ratio;
  record.generate_audio = request.generate_audio;
  record.api_url = config.api_url;
  record.status_path = config.status_path;
  record.submitted_at_us = g_get_real_time();
  return record;
}

std::string request_record_path(const std::string &cache_dir, const std::string &key) {
  return cache_dir + "/requests/" + key + kSuffix;
}

void write_request_record(const std::string &cache_dir, const std::string &key,
                          const RequestRecord &record) {
  std::string dir = cache_dir + "/requests";
  if (g_mkdir_with_parents(dir.c_str(), 0700) != 0)
    throw std::runtime_error("cannot create the cache directory " + dir);
  std::string path = request_record_path(cache_dir, key);
  std::string contents = to_json(record);
  GError *error = nullptr;
  if (!g_file_set_contents_full(path.c_str(), contents.data(), static_cast<gssize>(contents.size()),
                                G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error)) {
    std::string message = error->message;
    g_error_free(error);
    throw std::runtime_error("cannot write " + path + ": " + message);
  }
}

std::optional<RequestRecord> read_request_record(const std::string &cache_dir,
                                                 const std::string &key) {
  std::optional<std::string> text = read_file_text(request_record_path(cache_dir, key));
  if (!text) return std::nullopt;
  return parse_record(*text);
}

std::vector<std::pair<std::string, RequestRecord>> read_request_records(
    const std::string &cache_dir) {
  std::vector<std::pair<std::string, RequestRecord>> records;
  std::string dir_path = cache_dir + "/requests";
  GDir *dir = g_dir_open(dir_path.c_str(), 0, nullptr);
  if (!dir) return records;
  while (const char *name = g_dir_read_name(dir)) {
    if (!g_str_has_suffix(name, kSuffix)) continue;
    std::string key(name, strlen(name) - strlen(kSuffix));
    if (std::optional<RequestRecord> record = read_request_record(cache_dir, key))
      records.emplace_back(key, *record);
  }
  g_dir_close(dir);
  return records;
}

void remove_request_record(const std::string &cache_dir, const std::string &key) {
  g_remove(request_record_path(cache_dir, key).c_str());
}

}  // namespace see2ai
