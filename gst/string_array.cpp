#include "string_array.h"

void string_array_append(GValue *array, const char *text) {
  GValue item = G_VALUE_INIT;
  g_value_init(&item, G_TYPE_STRING);
  g_value_set_string(&item, text);
  gst_value_array_append_and_take_value(array, &item);
}

void string_array_fill(GValue *array, const std::vector<std::string> &items) {
  for (const auto &item : items) string_array_append(array, item.c_str());
}

std::vector<std::string> string_array_items(const GValue *array) {
  std::vector<std::string> items;
  for (guint i = 0; i < gst_value_array_get_size(array); ++i) {
    const char *text = g_value_get_string(gst_value_array_get_value(array, i));
    if (text && *text) items.emplace_back(text);
  }
  return items;
}
