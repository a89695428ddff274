#include "generation_request.h"

#include <glib.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>

#include "text_trim.h"
#include "untrusted_json.h"

namespace see2ai {

namespace {

constexpr const char *kStandardModelId = "doubao-seedance-2-0-260128";
constexpr const char *kFastModelId = "doubao-seedance-2-0-fast-260128";
constexpr std::array<const char *, 7> kAspectRatios = {"adaptive", "16:9", "9:16", "1:1",
                                                       "21:9",     "4:3",  "3:4"};
// Every input field of the contract, in the page's order.
constexpr const char *kRequestFields[] = {"model_name",
                                          "prompt",
                                          "non_face_image_url",
                                          "non_face_image_urls",
                                          "face_image_url",
                                          "video_url",
                                          "video_urls",
                                          "audio_url",
                                          "audio_urls",
                                          "first_frame_url",
                                          "last_frame_url",
                                          "duration",
                                          "resolution",
                                          "aspect_ratio",
                                          "watermark",
                                          "generate_audio",
                                          "enable_web_search",
                                          "force_asset_upload",
                                          "sync"};
constexpr size_t kMaxVideos = 3;
constexpr size_t kMaxAudios = 3;
constexpr size_t kMaxImages = 9;
// Echoed user values are capped so a hostile body cannot blow up an error message.
constexpr size_t kMaxEchoBytes = 64;

// Quoted, capped at a UTF-8 character boundary, for "(got ...)" parts of messages.
std::string echo(const std::string &raw) {
  g_autofree char *valid = g_utf8_make_valid(raw.data(), static_cast<gssize>(raw.size()));
  std::string value = valid;
  if (value.size() <= kMaxEchoBytes) return "\"" + value + "\"";
  size_t cut = kMaxEchoBytes;
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return "\"" + value.substr(0, cut) + "...\"";
}

bool is_utf8(const std::string &text) {
  return g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr);
}

// Empty optional strings are left out of the wire body, so they count as absent everywhere.
bool present(const std::optional<std::string> &value) {
  return value && !value->empty();
}

bool has_space_or_control(const std::string &text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) return true;
  }
  return false;
}

// GUri accepts raw spaces in host and path; the service does not, so they are refused up front.
bool is_http_url(const std::string &url) {
  if (!is_utf8(url) || has_space_or_control(url)) return false;
  GUri *uri = g_uri_parse(url.c_str(), G_URI_FLAGS_NONE, nullptr);
  if (!uri) return false;
  const char *scheme = g_uri_get_scheme(uri);
  const char *host = g_uri_get_host(uri);
  bool ok = scheme &&
            (g_ascii_strcasecmp(scheme, "http") == 0 || g_ascii_strcasecmp(scheme, "https") == 0) &&
            host && *host && !has_space_or_control(host);
  g_uri_unref(uri);
  return ok;
}

std::optional<FieldError> check_duration(int64_t duration) {
  if (duration == -1 || (duration >= 4 && duration <= 15)) return std::nullopt;
  return FieldError{"duration", "duration: must be -1 or between 4 and 15 (got " +
                                    std::to_string(duration) + ")"};
}

std::optional<FieldError> check_resolution(const std::string &resolution) {
  if (resolution == "720p" || resolution == "480p") return std::nullopt;
  return FieldError{"resolution",
                    "resolution: must be 720p or 480p (got " + echo(resolution) + ")"};
}

std::optional<FieldError> check_aspect_ratio(const std::string &aspect_ratio) {
  for (const char *allowed : kAspectRatios) {
    if (aspect_ratio == allowed) return std::nullopt;
  }
  return FieldError{"aspect_ratio",
                    "aspect_ratio: must be one of adaptive, 16:9, 9:16, 1:1, 21:9, 4:3, 3:4 (got " +
                        echo(aspect_ratio) + ")"};
}

size_t count_refs(const std::optional<std::string> &single, const std::vector<std::string> &list) {
  return (present(single) ? 1 : 0) + list.size();
}

std::optional<FieldError> check_count(const char *field, size_t count, size_t limit,
                                      const char *what) {
  if (count <= limit) return std::nullopt;
  return FieldError{field, std::string(field) + ": at most " + std::to_string(limit) + " " + what +
                               " in total (got " + std::to_string(count) + ")"};
}

bool has_generation_source(const GenerationRequest &request) {
  return (request.prompt && !trimmed(*request.prompt).empty()) ||
         present(request.non_face_image_url) || !request.non_face_image_urls.empty() ||
         present(request.face_image_url) || present(request.first_frame_url) ||
         present(request.last_frame_url) || present(request.video_url) ||
         !request.video_urls.empty();
}

// ---- JSON reading for parse_request_json ----

struct JsonFieldReader {
  JsonObject *object;
  std::optional<FieldError> error;

  // Null counts as absent, except for the two fields whose schema has no null (model_name, sync).
  JsonNode *member(const char *name, bool nullable = true) {
    if (error || !json_object_has_member(object, name)) return nullptr;
    JsonNode *node = json_object_get_member(object, name);
    if (!JSON_NODE_HOLDS_NULL(node)) return node;
    if (!nullable) fail(name, "must not be null");
    return nullptr;
  }

  void fail(const char *field, const std::string &rule) {
    if (!error) error = FieldError{field, std::string(field) + ": " + rule};
  }

  void read_string(const char *name, std::optional<std::string> &out) {
    JsonNode *node = member(name);
    if (!node) return;
    if (json_node_get_value_type(node) != G_TYPE_STRING)
      return fail(name, "must be a string or null");
    std::string value = json_node_get_string(node);
    if (!value.empty()) out = std::move(value);
  }

  // Enum-valued strings keep an empty value so that it is reported as an unknown value.
  void read_enum_string(const char *name, std::string &out) {
    JsonNode *node = member(name);
    if (!node) return;
    if (json_node_get_value_type(node) != G_TYPE_STRING)
      return fail(name, "must be a string or null");
    out = json_node_get_string(node);
  }

  void read_string_list(const char *name, std::vector<std::string> &out) {
    JsonNode *node = member(name);
    if (!node) return;
    if (!JSON_NODE_HOLDS_ARRAY(node)) return fail(name, "must be a list of strings or null");
    out.clear();
    JsonArray *array = json_node_get_array(node);
    guint length = json_array_get_length(array);
    for (guint i = 0; i < length; ++i) {
      JsonNode *entry = json_array_get_element(array, i);
      if (json_node_get_value_type(entry) != G_TYPE_STRING) {
        std::string field = std::string(name) + "[" + std::to_string(i) + "]";
        error = FieldError{field, field + ": must be a string"};
        return;
      }
      out.emplace_back(json_node_get_string(entry));
    }
  }

  // The service page's own example sends every value as a string, so "true"/"false" are accepted.
  void read_bool(const char *name, bool &out, bool nullable = true) {
    JsonNode *node = member(name, nullable);
    if (!node) return;
    GType type = json_node_get_value_type(node);
    if (type == G_TYPE_BOOLEAN) {
      out = json_node_get_boolean(node);
      return;
    }
    if (type == G_TYPE_STRING) {
      std::string text = trimmed(json_node_get_string(node));
      if (g_ascii_strcasecmp(text.c_str(), "true") == 0) {
        out = true;
        return;
      }
      if (g_ascii_strcasecmp(text.c_str(), "false") == 0) {
        out = false;
        return;
      }
    }
    fail(name, nullable ? "must be true, false or null" : "must be true or false");
  }

  // Integers, integral numbers (5.0) and strings holding an integer ("5", as in the page's
  // example) are accepted; anything else is a type error.
  void read_duration(int &out) {
    JsonNode *node = member("duration");
    if (!node) return;
    GType type = json_node_get_value_type(node);
    std::optional<int64_t> value;
    if (type == G_TYPE_INT64) {
      value = json_node_get_int(node);
    } else if (type == G_TYPE_DOUBLE) {
      double number = json_node_get_double(node);
      if (std::isfinite(number) && std::trunc(number) == number && std::fabs(number) < 1e15)
        value = static_cast<int64_t>(number);
    } else if (type == G_TYPE_STRING) {
      std::string text = trimmed(json_node_get_string(node));
      if (!text.empty()) {
        char *end = nullptr;
        errno = 0;
        long long parsed = std::strtoll(text.c_str(), &end, 10);
        if (errno == 0 && end && *end == '\0') value = parsed;
      }
    }
    if (!value) return fail("duration", "must be an integer or null");
    if (*value < INT_MIN || *value > INT_MAX) {
      error = check_duration(*value);
      return;
    }
    out = static_cast<int>(*value);
  }

  void read_model(Model &out) {
    JsonNode *node = member("model_name", false);
    if (!node) return;
    if (json_node_get_value_type(node) != G_TYPE_STRING)
      return fail("model_name", "must be a string");
    std::string id = json_node_get_string(node);
    std::optional<Model> model = model_from_id(id);
    if (!model) {
      return fail("model_name", std::string("must be ") + kStandardModelId + " or " + kFastModelId +
                                    " (got " + echo(id) + ")");
    }
    out = *model;
  }
};

// validate() refuses invalid UTF-8; this keeps the body parseable JSON even for a request that
// was not validated.
void add_string_value(JsonBuilder *builder, const std::string &value) {
  g_autofree char *valid = g_utf8_make_valid(value.data(), static_cast<gssize>(value.size()));
  json_builder_add_string_value(builder, valid);
}

void add_optional_string(JsonBuilder *builder, const char *name,
                         const std::optional<std::string> &value) {
  if (!present(value)) return;
  json_builder_set_member_name(builder, name);
  add_string_value(builder, *value);
}

void add_string_list(JsonBuilder *builder, const char *name, const std::vector<std::string> &list) {
  if (list.empty()) return;
  json_builder_set_member_name(builder, name);
  json_builder_begin_array(builder);
  for (const std::string &entry : list) add_string_value(builder, entry);
  json_builder_end_array(builder);
}

void add_bool(JsonBuilder *builder, const char *name, bool value) {
  json_builder_set_member_name(builder, name);
  json_builder_add_boolean_value(builder, value);
}

void add_string(JsonBuilder *builder, const char *name, const std::string &value) {
  json_builder_set_member_name(builder, name);
  add_string_value(builder, value);
}

// Length-prefixed so that no two different requests can produce the same canonical text.
void append_canonical(std::string &text, const char *name, const std::string &value) {
  text += name;
  text += '=';
  text += std::to_string(value.size());
  text += ':';
  text += value;
  text += '\n';
}

void append_canonical(std::string &text, const char *name,
                      const std::optional<std::string> &value) {
  if (!present(value)) {
    text += name;
    text += "=absent\n";
    return;
  }
  append_canonical(text, name, *value);
}

void append_canonical(std::string &text, const char *name, const std::vector<std::string> &list) {
  append_canonical(text, name, std::to_string(list.size()));
  for (const std::string &entry : list) append_canonical(text, name, entry);
}

}  // namespace

const char *model_id(Model model) {
  return model == Model::Fast ? kFastModelId : kStandardModelId;
}

std::optional<Model> model_from_id(const std::string &id) {
  if (id == kStandardModelId) return Model::Standard;
  if (id == kFastModelId) return Model::Fast;
  return std::nullopt;
}

std::optional<FieldError> validate(const GenerationRequest &request) {
  if (request.prompt && !is_utf8(*request.prompt))
    return FieldError{"prompt", "prompt: must be valid UTF-8"};
  if (auto error = check_duration(request.duration)) return error;
  if (auto error = check_resolution(request.resolution)) return error;
  if (auto error = check_aspect_ratio(request.aspect_ratio)) return error;
  if (auto error = check_count("video_urls", count_refs(request.video_url, request.video_urls),
                               kMaxVideos, "reference videos (video_url + video_urls)"))
    return error;
  if (auto error = check_count("audio_urls", count_refs(request.audio_url, request.audio_urls),
                               kMaxAudios, "reference audios (audio_url + audio_urls)"))
    return error;
  size_t images = count_refs(request.non_face_image_url, request.non_face_image_urls) +
                  (present(request.face_image_url) ? 1 : 0);
  if (auto error = check_count(
          "non_face_image_urls", images, kMaxImages,
          "reference images (non_face_image_url + non_face_image_urls + face_image_url)"))
    return error;
  for (const auto &[field, url] : reference_urls(request)) {
    if (!is_http_url(url)) {
      return FieldError{field, field + ": must be an absolute http:// or https:// URL with a host"};
    }
  }
  if (!has_generation_source(request)) {
    return FieldError{"prompt",
                      "prompt: required unless an image, first/last frame or video is given "
                      "(audio cannot be the only reference)"};
  }
  return std::nullopt;
}

std::vector<std::string> advisories(const GenerationRequest &request) {
  std::vector<std::string> advice;
  if (request.force_asset_upload) {
    advice.emplace_back(
        "force_asset_upload=true re-uploads every asset: slow and expensive; leave it off unless "
        "direct upload keeps failing");
  }
  if (present(request.first_frame_url) && request.aspect_ratio != "adaptive") {
    advice.emplace_back("aspect_ratio=" + request.aspect_ratio +
                        " with first_frame_url: the first frame's aspect is kept only with "
                        "adaptive");
  }
  if (request.enable_web_search && !(request.prompt && !trimmed(*request.prompt).empty())) {
    advice.emplace_back("enable_web_search=true without a prompt: there is nothing to search for");
  }
  // An image that is the face image is a face image: given as non-face too, it skips the
  // service's compliance upload for that copy.
  if (present(request.face_image_url)) {
    const std::string &face = *request.face_image_url;
    const auto &list = request.non_face_image_urls;
    const char *field = request.non_face_image_url == face ? "non_face_image_url"
                        : std::find(list.begin(), list.end(), face) != list.end()
                            ? "non_face_image_urls"
                            : nullptr;
    if (field)
      advice.emplace_back(std::string(field) + "=" + face +
                          ": this is the face image (face_image_url); an image with a real face "
                          "belongs only in face_image_url");
  }
  return advice;
}

std::string to_json(const GenerationRequest &request) {
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_object(builder);
  add_string(builder, "model_name", model_id(request.model));
  add_optional_string(builder, "prompt", request.prompt);
  add_optional_string(builder, "non_face_image_url", request.non_face_image_url);
  add_string_list(builder, "non_face_image_urls", request.non_face_image_urls);
  add_optional_string(builder, "face_image_url", request.face_image_url);
  add_optional_string(builder, "video_url", request.video_url);
  add_string_list(builder, "video_urls", request.video_urls);
  add_optional_string(builder, "audio_url", request.audio_url);
  add_string_list(builder, "audio_urls", request.audio_urls);
  add_optional_string(builder, "first_frame_url", request.first_frame_url);
  add_optional_string(builder, "last_frame_url", request.last_frame_url);
  json_builder_set_member_name(builder, "duration");
  json_builder_add_int_value(builder, request.duration);
  add_string(builder, "resolution", request.resolution);
  add_string(builder, "aspect_ratio", request.aspect_ratio);
  add_bool(builder, "watermark", request.watermark);
  add_bool(builder, "generate_audio", request.generate_audio);
  add_bool(builder, "enable_web_search", request.enable_web_search);
  add_bool(builder, "force_asset_upload", request.force_asset_upload);
  add_bool(builder, "sync", request.sync);
  json_builder_end_object(builder);

  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  g_autoptr(JsonGenerator) generator = json_generator_new();
  json_generator_set_root(generator, root);
  g_autofree char *text = json_generator_to_data(generator, nullptr);
  return text;
}

std::optional<FieldError> read_request_fields(JsonObject *object, GenerationRequest &request) {
  JsonFieldReader reader{object, std::nullopt};
  reader.read_model(request.model);
  reader.read_string("prompt", request.prompt);
  reader.read_string("non_face_image_url", request.non_face_image_url);
  reader.read_string_list("non_face_image_urls", request.non_face_image_urls);
  reader.read_string("face_image_url", request.face_image_url);
  reader.read_string("video_url", request.video_url);
  reader.read_string_list("video_urls", request.video_urls);
  reader.read_string("audio_url", request.audio_url);
  reader.read_string_list("audio_urls", request.audio_urls);
  reader.read_string("first_frame_url", request.first_frame_url);
  reader.read_string("last_frame_url", request.last_frame_url);
  reader.read_duration(request.duration);
  reader.read_enum_string("resolution", request.resolution);
  reader.read_enum_string("aspect_ratio", request.aspect_ratio);
  reader.read_bool("watermark", request.watermark);
  reader.read_bool("generate_audio", request.generate_audio);
  reader.read_bool("enable_web_search", request.enable_web_search);
  reader.read_bool("force_asset_upload", request.force_asset_upload);
  reader.read_bool("sync", request.sync, false);
  // resolution and aspect_ratio are enums on the wire: an unknown value is reported here too.
  if (!reader.error) reader.error = check_resolution(request.resolution);
  if (!reader.error) reader.error = check_aspect_ratio(request.aspect_ratio);
  return std::move(reader.error);
}

bool is_request_field(const std::string &name) {
  return std::find(std::begin(kRequestFields), std::end(kRequestFields), name) !=
         std::end(kRequestFields);
}

ParsedRequest parse_request_json(const std::string &body) {
  ParsedRequest parsed;
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = nullptr;
  if (!load_untrusted_json(parser, body, &error)) {
    parsed.error = FieldError{"body", "body: not valid JSON"};
    return parsed;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    parsed.error = FieldError{"body", "body: must be a JSON object"};
    return parsed;
  }

  parsed.error = read_request_fields(json_node_get_object(root), parsed.request);
  return parsed;
}

std::vector<std::pair<std::string, std::string>> reference_urls(const GenerationRequest &request) {
  std::vector<std::pair<std::string, std::string>> urls;
  auto add_single = [&urls](const char *field, const std::optional<std::string> &value) {
    if (present(value)) urls.emplace_back(field, *value);
  };
  auto add_list = [&urls](const char *field, const std::vector<std::string> &list) {
    for (size_t i = 0; i < list.size(); ++i) {
      urls.emplace_back(std::string(field) + "[" + std::to_string(i) + "]", list[i]);
    }
  };
  add_single("non_face_image_url", request.non_face_image_url);
  add_list("non_face_image_urls", request.non_face_image_urls);
  add_single("face_image_url", request.face_image_url);
  add_single("video_url", request.video_url);
  add_list("video_urls", request.video_urls);
  add_single("audio_url", request.audio_url);
  add_list("audio_urls", request.audio_urls);
  add_single("first_frame_url", request.first_frame_url);
  add_single("last_frame_url", request.last_frame_url);
  return urls;
}

// The prompt enters the key byte for byte, surrounding whitespace included: the service sees
// those bytes (they change the token count, and the dev server derives duration -1 from the
// prompt), so a cache must not hand one prompt's clip to another. An empty prompt equals an
// absent one because to_json sends neither.
std::string cache_key(const GenerationRequest &request, const std::string &api_url) {
  std::string canonical = "see2ai-cache-v1\n";
  std::string url = api_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  append_canonical(canonical, "api_url", url);
  append_canonical(canonical, "model_name", std::string(model_id(request.model)));
  append_canonical(canonical, "prompt", request.prompt);
  append_canonical(canonical, "non_face_image_url", request.non_face_image_url);
  append_canonical(canonical, "non_face_image_urls", request.non_face_image_urls);
  append_canonical(canonical, "face_image_url", request.face_image_url);
  append_canonical(canonical, "video_url", request.video_url);
  append_canonical(canonical, "video_urls", request.video_urls);
  append_canonical(canonical, "audio_url", request.audio_url);
  append_canonical(canonical, "audio_urls", request.audio_urls);
  append_canonical(canonical, "first_frame_url", request.first_frame_url);
  append_canonical(canonical, "last_frame_url", request.last_frame_url);
  append_canonical(canonical, "duration", std::to_string(request.duration));
  append_canonical(canonical, "resolution", request.resolution);
  append_canonical(canonical, "aspect_ratio", request.aspect_ratio);
  append_canonical(canonical, "watermark", std::string(request.watermark ? "1" : "0"));
  append_canonical(canonical, "generate_audio", std::string(request.generate_audio ? "1" : "0"));
  append_canonical(canonical, "enable_web_search",
                   std::string(request.enable_web_search ? "1" : "0"));
  append_canonical(canonical, "force_asset_upload",
                   std::string(request.force_asset_upload ? "1" : "0"));
  g_autofree char *digest = g_compute_checksum_for_data(
      G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(canonical.data()), canonical.size());
  return digest;
}

}  // namespace see2ai
