#include "storyboard.h"

#include <json-glib/json-glib.h>

#include "file_text.h"
#include "untrusted_json.h"

namespace see2ai {

namespace {

// Stands for the previous shot's clip while a continuity shot is checked before that clip exists.
constexpr const char *kPreviousClipPlaceholder = "https://previous-shot.invalid/clip.mp4";

std::string describe_shot(size_t index, const std::string &field, const std::string &message) {
  std::string text = "shot " + std::to_string(index);
  if (!field.empty()) text += ", field \"" + field + "\"";
  return text + ": " + message;
}

ShotPlay read_play(JsonNode *node, size_t index) {
  ShotPlay play;
  if (!JSON_NODE_HOLDS_OBJECT(node)) throw ShotError(index, "play", "must be an object");
  JsonObject *object = json_node_get_object(node);
  GList *names = json_object_get_members(object);
  for (GList *name = names; name; name = name->next) {
    const std::string option = static_cast<const char *>(name->data);
    JsonNode *value = json_object_get_member(object, option.c_str());
    const GType type = json_node_get_value_type(value);
    if (option == "title" && JSON_NODE_HOLDS_VALUE(value) && type == G_TYPE_STRING) {
      play.title = json_node_get_string(value);
    } else if (option == "continue" && JSON_NODE_HOLDS_VALUE(value) && type == G_TYPE_BOOLEAN) {
      play.continue_previous = json_node_get_boolean(value);
    } else {
      g_list_free(names);
      if (option == "title") throw ShotError(index, "play.title", "must be a string");
      if (option == "continue") throw ShotError(index, "play.continue", "must be true or false");
      throw ShotError(index, "play." + option,
                      "unknown play option (known: \"title\", \"continue\")");
    }
  }
  g_list_free(names);
  return play;
}

Shot read_shot(JsonNode *node, const GenerationRequest &defaults, size_t index) {
  if (!JSON_NODE_HOLDS_OBJECT(node))
    throw ShotError(index, "", "must be an object of request fields");
  JsonObject *object = json_node_get_object(node);
  GList *names = json_object_get_members(object);
  for (GList *name = names; name; name = name->next) {
    const std::string field = static_cast<const char *>(name->data);
    if (field != "play" && !is_request_field(field)) {
      g_list_free(names);
      throw ShotError(index, field,
                      "unknown field (a shot takes the service's request fields and \"play\")");
    }
  }
  g_list_free(names);
  Shot shot;
  shot.request = defaults;
  if (std::optional<FieldError> problem = read_request_fields(object, shot.request))
    throw ShotError(index, problem->field, problem->message);
  if (json_object_has_member(object, "play"))
    shot.play = read_play(json_object_get_member(object, "play"), index);
  check_shot(shot, index);
  return shot;
}

}  // namespace

ShotError::ShotError(size_t index, std::string field, const std::string &message)
    : std::runtime_error(describe_shot(index, field, message)),
      index(index),
      field(std::move(field)) {}

std::string shot_title(const Shot &shot, size_t index) {
  if (!shot.play.title.empty()) return shot.play.title;
  if (shot.request.prompt && !shot.request.prompt->empty()) return *shot.request.prompt;
  return "Shot " + std::to_string(index + 1);
}

void check_shot(const Shot &shot, size_t index) {
  if (shot.play.continue_previous && index == 0)
    throw ShotError(index, "play.continue", "the first shot has no previous shot to continue");
  const GenerationRequest request = shot.play.continue_previous
                                        ? continued_request(shot, kPreviousClipPlaceholder)
                                        : shot.request;
  if (std::optional<FieldError> problem = validate(request)) {
    std::string message = problem->message;
    if (shot.play.continue_previous &&
        (problem->field == "video_urls" || problem->field == "video_url"))
      message += " (continuing the previous shot takes one of them)";
    throw ShotError(index, problem->field, message);
  }
}

GenerationRequest continued_request(const Shot &shot, const std::string &previous_clip_url) {
  GenerationRequest request = shot.request;
  request.video_urls.push_back(previous_clip_url);
  return request;
}

std::vector<Shot> parse_storyboard(const std::string &json, const GenerationRequest &defaults) {
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = nullptr;
  if (!load_untrusted_json(parser, json, &error))
    throw std::invalid_argument(std::string("not valid JSON: ") + error->message);
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_ARRAY(root))
    throw std::invalid_argument("must be a JSON array of shots (objects of request fields)");
  JsonArray *array = json_node_get_array(root);
  const guint count = json_array_get_length(array);
  if (count == 0) throw std::invalid_argument("has no shot");
  std::vector<Shot> shots;
  shots.reserve(count);
  for (guint i = 0; i < count; ++i)
    shots.push_back(read_shot(json_array_get_element(array, i), defaults, i));
  return shots;
}

std::vector<Shot> load_storyboard(const std::string &path, const GenerationRequest &defaults) {
  std::optional<std::string> text = read_file_text(path);
  if (!text) throw std::invalid_argument("storyboard " + path + " cannot be read");
  try {
    return parse_storyboard(*text, defaults);
  } catch (const std::invalid_argument &error) {
    throw std::invalid_argument("storyboard " + path + " " + error.what());
  }
}

}  // namespace see2ai
