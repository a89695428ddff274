// ShotFields: a shot from the GstStructure of the append-shot signal. Its fields are named as the
// element's request properties ("prompt", "duration", "generate-audio", ...; a string is parsed
// as gst-launch-1.0 parses a property value) plus "title" and "continue" for how it plays; the
// properties' values are the defaults of every field it leaves out.
#pragma once

#include <gst/gst.h>

#include <optional>
#include <string>

#include "src_properties.h"
#include "storyboard.h"

// The shot `fields` describe over `defaults`, checked as shot `index` of the sequence; or nothing,
// with `refusal` saying which field breaks which rule.
std::optional<see2ai::Shot> shot_from_fields(GObjectClass *element_class,
                                             const SrcSettings &defaults,
                                             const GstStructure *fields, size_t index,
                                             std::string *refusal);
