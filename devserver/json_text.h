// JsonText: small json-glib helpers the dev server shares: serializing a builder's result and
// reading optional members, so each handler does not repeat the GObject plumbing.
#pragma once

#include <json-glib/json-glib.h>

#include <string>

namespace see2ai::dev {

// Serializes the builder's root compactly and releases the builder.
std::string builder_to_text(JsonBuilder *builder);
std::string node_to_text(JsonNode *node);

// {"detail": message} as the service sends for 4xx answers.
std::string detail_json(const std::string &message);

}  // namespace see2ai::dev
