// Lists of strings as GStreamer array GValues (GST_TYPE_ARRAY of G_TYPE_STRING): how the
// element's URL-list properties, its URIs and its result structures carry them.
#pragma once

#include <gst/gst.h>

#include <string>
#include <vector>

// Appends `text` to an initialized array value.
void string_array_append(GValue *array, const char *text);
// Appends every item to an initialized array value.
void string_array_fill(GValue *array, const std::vector<std::string> &items);
// The non-empty strings of an array value, in order.
std::vector<std::string> string_array_items(const GValue *array);
