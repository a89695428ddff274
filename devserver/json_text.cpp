#include "json_text.h"

namespace see2ai::dev {

std::string node_to_text(JsonNode *node) {
  JsonGenerator *generator = json_generator_new();
  json_generator_set_root(generator, node);
  gchar *data = json_generator_to_data(generator, nullptr);
  std::string text = data;
  g_free(data);
  g_object_unref(generator);
  return text;
}

std::string builder_to_text(JsonBuilder *builder) {
  JsonNode *root = json_builder_get_root(builder);
  std::string text = node_to_text(root);
  json_node_unref(root);
  g_object_unref(builder);
  return text;
}

std::string detail_json(const std::string &message) {
  JsonBuilder *builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "detail");
  json_builder_add_string_value(builder, message.c_str());
  json_builder_end_object(builder);
  return builder_to_text(builder);
}

}  // namespace see2ai::dev
