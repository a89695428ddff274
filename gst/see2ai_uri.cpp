#include "see2ai_uri.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "generate_uri.h"
#include "gstsee2aivideosrc.h"
#include "string_array.h"

namespace {

bool uri_property(GParamSpec *pspec) {
  return (pspec->flags & G_PARAM_WRITABLE) && (pspec->flags & G_PARAM_READABLE) &&
         g_strcmp0(pspec->name, "api-key") != 0 && g_strcmp0(pspec->name, "name") != 0 &&
         g_strcmp0(pspec->name, "parent") != 0 && g_strcmp0(pspec->name, "task-id") != 0 &&
         pspec->owner_type == GST_TYPE_SEE2AI_VIDEO_SRC;
}

// Only the properties that describe the request go back to their defaults when a URI is set.
bool request_property(GParamSpec *pspec) {
  static const char *const kKept[] = {"api-url",   "status-path", "poll-interval",  "timeout",
                                      "retries",   "ssl-strict",  "proxy",          "user-agent",
                                      "cache-dir", "cache-mode",  "cache-max-size", "is-live",
                                      "loop"};
  for (const char *name : kKept)
    if (g_strcmp0(pspec->name, name) == 0) return false;
  return uri_property(pspec);
}

std::string value_text(GParamSpec *pspec, const GValue *value) {
  if (G_IS_PARAM_SPEC_ENUM(pspec)) {
    GEnumValue *v = g_enum_get_value(G_PARAM_SPEC_ENUM(pspec)->enum_class, g_value_get_enum(value));
    return v ? v->value_nick : "";
  }
  if (G_VALUE_HOLDS_STRING(value))
    return g_value_get_string(value) ? g_value_get_string(value) : "";
  gchar *text = gst_value_serialize(value);
  std::string result = text ? text : "";
  g_free(text);
  return result;
}

void append_param(std::string &query, const char *key, const std::string &value) {
  gchar *escaped = g_uri_escape_string(value.c_str(), nullptr, FALSE);
  query += query.empty() ? "" : "&";
  query += key;
  query += "=";
  query += escaped;
  g_free(escaped);
}

bool set_property_from_text(GObject *object, GParamSpec *pspec, const char *text, GError **error) {
  GValue value = G_VALUE_INIT;
  g_value_init(&value, pspec->value_type);
  bool ok = true;
  if (G_IS_PARAM_SPEC_ENUM(pspec)) {
    GEnumClass *klass = G_PARAM_SPEC_ENUM(pspec)->enum_class;
    GEnumValue *v = g_enum_get_value_by_nick(klass, text);
    if (!v) v = g_enum_get_value_by_name(klass, text);
    if (v) g_value_set_enum(&value, v->value);
    ok = v != nullptr;
  } else if (G_VALUE_HOLDS_STRING(&value)) {
    g_value_set_string(&value, text);
  } else {
    ok = gst_value_deserialize(&value, text) && !g_param_value_validate(pspec, &value);
  }
  if (ok)
    g_object_set_property(object, pspec->name, &value);
  else
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
                "see2ai URI: \"%s\" is not a valid value for \"%s\"", text, pspec->name);
  g_value_unset(&value);
  return ok;
}

gchar *see2ai_uri_get_uri(GstURIHandler *handler) {
  GObject *object = G_OBJECT(handler);
  gchar *task_id = gst_see2ai_video_src_dup_attach_task_id(GST_SEE2AI_VIDEO_SRC(handler));
  if (task_id) {
    gchar *escaped = g_uri_escape_string(task_id, nullptr, FALSE);
    gchar *uri = g_strdup_printf("see2ai://task/%s", escaped);
    g_free(escaped);
    g_free(task_id);
    return uri;
  }
  std::string query;
  guint n = 0;
  GParamSpec **specs = g_object_class_list_properties(G_OBJECT_GET_CLASS(object), &n);
  // What a new element would have: defaults some properties take from this machine (api-url from
  // SEE2AI_API_URL, cache-dir from the user's cache directory) stay out of the URI too.
  GObject *fresh = G_OBJECT(g_object_ref_sink(g_object_new(G_OBJECT_TYPE(object), nullptr)));
  for (guint i = 0; i < n; ++i) {
    GParamSpec *pspec = specs[i];
    if (!uri_property(pspec)) continue;
    GValue value = G_VALUE_INIT;
    GValue initial = G_VALUE_INIT;
    g_value_init(&value, pspec->value_type);
    g_value_init(&initial, pspec->value_type);
    g_object_get_property(object, pspec->name, &value);
    g_object_get_property(fresh, pspec->name, &initial);
    const bool changed = g_param_values_cmp(pspec, &value, &initial) != 0;
    g_value_unset(&initial);
    if (changed) {
      if (GST_VALUE_HOLDS_ARRAY(&value)) {
        for (const auto &item : string_array_items(&value)) append_param(query, pspec->name, item);
      } else {
        append_param(query, pspec->name, value_text(pspec, &value));
      }
    }
    g_value_unset(&value);
  }
  g_object_unref(fresh);
  g_free(specs);
  return g_strdup_printf("see2ai://generate%s%s", query.empty() ? "" : "?", query.c_str());
}

// The properties of a see2ai://generate URI (either form, see generate_uri.h): request
// properties not named go back to their defaults.
bool set_generate_params(GObject *object, const std::string &rest, GError **error) {
  std::vector<see2ai::UriParam> params;
  try {
    params = see2ai::parse_generate_params(rest, [object](const std::string &name) {
      return g_object_class_find_property(G_OBJECT_GET_CLASS(object), name.c_str()) != nullptr;
    });
  } catch (const std::invalid_argument &problem) {
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "see2ai URI: %s", problem.what());
    return false;
  }
  guint n = 0;
  GParamSpec **specs = g_object_class_list_properties(G_OBJECT_GET_CLASS(object), &n);
  for (guint i = 0; i < n; ++i) {
    if (!request_property(specs[i]) && g_strcmp0(specs[i]->name, "task-id") != 0) continue;
    GValue value = G_VALUE_INIT;
    g_value_init(&value, specs[i]->value_type);
    g_param_value_set_default(specs[i], &value);
    g_object_set_property(object, specs[i]->name, &value);
    g_value_unset(&value);
  }
  g_free(specs);
  bool ok = true;
  std::vector<std::pair<std::string, GValue>> arrays;
  for (const see2ai::UriParam &param : params) {
    const char *key = param.name.c_str();
    GParamSpec *pspec = g_object_class_find_property(G_OBJECT_GET_CLASS(object), key);
    if (param.name == "api-key") {
      g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
                  "see2ai URI: the API key never goes into a URI (use the api-key property or "
                  "SEE2AI_API_KEY)");
      ok = false;
    } else if (!pspec || !uri_property(pspec)) {
      g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
                  "see2ai URI: unknown or read-only property \"%s\"", key);
      ok = false;
    } else if (GST_IS_PARAM_SPEC_ARRAY_LIST(pspec)) {
      auto it = std::find_if(arrays.begin(), arrays.end(),
                             [key](const auto &a) { return a.first == key; });
      if (it == arrays.end()) {
        arrays.emplace_back(key, GValue(G_VALUE_INIT));
        it = std::prev(arrays.end());
        gst_value_array_init(&it->second, 3);
      }
      string_array_append(&it->second, param.value.c_str());
    } else {
      ok = set_property_from_text(object, pspec, param.value.c_str(), error);
    }
    if (!ok) break;
  }
  for (auto &[name, value] : arrays) {
    if (ok) g_object_set_property(object, name.c_str(), &value);
    g_value_unset(&value);
  }
  return ok;
}

// Parsed by hand, not with GUri: the path form may hold plain spaces, '?' and '#' once a tool
// decoded it (ges-launch-1.0 does).
gboolean see2ai_uri_set_uri(GstURIHandler *handler, const gchar *uri, GError **error) {
  GObject *object = G_OBJECT(handler);
  if (GST_STATE(handler) > GST_STATE_READY) {
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_STATE,
                "see2ai URI: the URI can only be changed in the NULL or READY state");
    return FALSE;
  }
  constexpr char kScheme[] = "see2ai://";
  const std::string text = uri ? uri : "";
  if (g_ascii_strncasecmp(text.c_str(), kScheme, sizeof(kScheme) - 1) != 0) {
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
                "not a see2ai URI: expected see2ai://generate?prompt=..., "
                "see2ai://generate/prompt=... or see2ai://task/<id>");
    return FALSE;
  }
  const std::string after_scheme = text.substr(sizeof(kScheme) - 1);
  const size_t host_end = after_scheme.find_first_of("/?#");
  const std::string host = after_scheme.substr(0, host_end);
  const std::string rest = host_end == std::string::npos ? "" : after_scheme.substr(host_end);
  if (host == "task") {
    const std::string id =
        rest.size() > 1 && rest[0] == '/' ? see2ai::decode_percent_escapes(rest.substr(1)) : "";
    if (id.empty()) {
      g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "see2ai://task/ needs a task id");
      return FALSE;
    }
    g_object_set(object, "task-id", id.c_str(), nullptr);
    return TRUE;
  }
  if (host == "generate") return set_generate_params(object, rest, error);
  g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
              "see2ai URI: expected see2ai://generate?..., see2ai://generate/... or "
              "see2ai://task/<id>");
  return FALSE;
}

}  // namespace

void see2ai_uri_handler_init(gpointer g_iface, gpointer) {
  auto *iface = static_cast<GstURIHandlerInterface *>(g_iface);
  iface->get_type = [](GType) { return GST_URI_SRC; };
  iface->get_protocols = [](GType) -> const gchar *const * {
    static const gchar *const protocols[] = {"see2ai", nullptr};
    return protocols;
  };
  iface->get_uri = see2ai_uri_get_uri;
  iface->set_uri = see2ai_uri_set_uri;
}
