// GenerationRequest: every input field of see2ai_video_generation_v1 with its contract defaults.
// The validation rules live here once, shared by the element (before spending) and the dev server
// (400s).
#pragma once

#include <optional>
#include <string>
#include <vector>

typedef struct _JsonObject JsonObject;

namespace see2ai {

enum class Model { Standard, Fast };

// "doubao-seedance-2-0-260128" / "doubao-seedance-2-0-fast-260128".
const char *model_id(Model model);
std::optional<Model> model_from_id(const std::string &id);

struct GenerationRequest {
  Model model = Model::Standard;
  std::optional<std::string> prompt;
  std::optional<std::string> non_face_image_url;
  std::vector<std::string> non_face_image_urls;
  std::optional<std::string> face_image_url;
  std::optional<std::string> video_url;
  std::vector<std::string> video_urls;
  std::optional<std::string> audio_url;
  std::vector<std::string> audio_urls;
  std::optional<std::string> first_frame_url;
  std::optional<std::string> last_frame_url;
  int duration = 5;                       // 4..15, or -1: the model decides
  std::string resolution = "720p";        // 720p | 480p
  std::string aspect_ratio = "adaptive";  // adaptive 16:9 9:16 1:1 21:9 4:3 3:4
  bool watermark = false;
  bool generate_audio = true;
  bool enable_web_search = false;
  bool force_asset_upload = false;
  bool sync = true;  // contract default; the element sets false
};

// A rule broken by one field. `field` is the wire name (e.g. "duration", "video_urls").
struct FieldError {
  std::string field;
  std::string message;  // human readable, names the field and the rule
};

// The service's 400 rules. Returns the first broken rule, or nothing when the request is legal.
std::optional<FieldError> validate(const GenerationRequest &request);

// Legal but poor requests (the service's pre-validator "warnings").
std::vector<std::string> advisories(const GenerationRequest &request);

// The JSON body of the POST (every field, explicit nulls left out).
std::string to_json(const GenerationRequest &request);

// Parses a POST body. Type errors and unknown enum values come back as a FieldError naming the
// field; missing fields take the contract defaults. Does not apply validate().
struct ParsedRequest {
  GenerationRequest request;
  std::optional<FieldError> error;
};
ParsedRequest parse_request_json(const std::string &body);
// The fields present in `object` (wire names) replace those of `request`; the others keep their
// values. Same rules and errors as parse_request_json.
std::optional<FieldError> read_request_fields(JsonObject *object, GenerationRequest &request);
// True for an input field of the contract ("prompt", "video_urls", ...).
bool is_request_field(const std::string &name);

// All reference URLs of the request, in field order, with the wire name of their field.
std::vector<std::pair<std::string, std::string>> reference_urls(const GenerationRequest &request);

// Stable hex digest of everything that changes the output plus the api-url; not sync, not the key.
std::string cache_key(const GenerationRequest &request, const std::string &api_url);

}  // namespace see2ai
