// ClipCheck: whether a file on disk is a whole, playable clip, by demuxing it: libavformat opens
// it, reads every packet, and every sample its index names must lie inside the file. Catches a
// download cut short (with or without a length from the host), bytes that are no clip, and a
// cached clip damaged on disk, without decoding a single frame.
#pragma once

#include <optional>
#include <string>

namespace see2ai {

// Nothing when the clip at `path` is whole; else what is wrong with it, in words.
std::optional<std::string> clip_problem(const std::string &path);

}  // namespace see2ai
