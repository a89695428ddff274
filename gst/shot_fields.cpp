#include "shot_fields.h"

namespace {

// Sets one request property's field on `settings`; false (and why) when it cannot.
bool set_request_field(GObjectClass *element_class, const std::string &field, const GValue *value,
                       SrcSettings &settings, std::string *refusal) {
  GParamSpec *pspec = g_object_class_find_property(element_class, field.c_str());
  if (!pspec || !src_property_is_request_field(pspec->param_id)) {
    *refusal = "field \"" + field + "\" is not a request property (nor \"title\", \"continue\")";
    return false;
  }
  GValue converted = G_VALUE_INIT;
  g_value_init(&converted, G_PARAM_SPEC_VALUE_TYPE(pspec));
  const bool ok = G_VALUE_TYPE(value) == G_PARAM_SPEC_VALUE_TYPE(pspec)
                      ? (g_value_copy(value, &converted), true)
                  : G_VALUE_HOLDS_STRING(value)
                      ? gst_value_deserialize(&converted, g_value_get_string(value))
                      : g_value_transform(value, &converted);
  const bool valid = ok && !g_param_value_validate(pspec, &converted);
  if (valid)
    src_settings_set(settings, pspec->param_id, &converted);
  else
    *refusal = "field \"" + field + "\" has a value the property does not take";
  g_value_unset(&converted);
  return valid;
}

}  // namespace

std::optional<see2ai::Shot> shot_from_fields(GObjectClass *element_class,
                                             const SrcSettings &defaults,
                                             const GstStructure *fields, size_t index,
                                             std::string *refusal) {
  SrcSettings settings = defaults;
  see2ai::Shot shot;
  const gint count = gst_structure_n_fields(fields);
  for (gint i = 0; i < count; ++i) {
    const std::string field = gst_structure_nth_field_name(fields, i);
    const GValue *value = gst_structure_get_value(fields, field.c_str());
    if (field == "title" || field == "continue") {
      const GType want = field == "title" ? G_TYPE_STRING : G_TYPE_BOOLEAN;
      if (G_VALUE_TYPE(value) != want) {
        *refusal = "field \"" + field + "\" must be a " + g_type_name(want);
        return std::nullopt;
      }
      if (field == "title")
        shot.play.title = g_value_get_string(value);
      else
        shot.play.continue_previous = g_value_get_boolean(value);
    } else if (!set_request_field(element_class, field, value, settings, refusal)) {
      return std::nullopt;
    }
  }
  shot.request = settings.request;
  try {
    see2ai::check_shot(shot, index);
  } catch (const see2ai::ShotError &error) {
    // The rule's text without the "shot N, field ..." that the caller says its own way.
    const std::string text = error.what();
    const std::string rule = text.substr(text.find(": ") + 2);
    *refusal = error.field.empty()
                   ? rule
                   : "field \"" + property_name_for_field(error.field) + "\": " + rule;
    return std::nullopt;
  }
  return shot;
}
