// Storyboard: shots, what a sequence of generated clips is made of. A shot is one request of the
// service plus how it plays. A storyboard file is a JSON array of objects in the service's own
// field names ("prompt", "duration", ...), each with an optional "play" object of play options;
// the element's request is the default of every field a shot leaves out. Every shot is checked
// here, before anything is submitted for any of them, and a broken one is named with its field.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "generation_request.h"

namespace see2ai {

// How a shot plays.
struct ShotPlay {
  // The chapter title (empty: the prompt).
  std::string title;
  // Continuity: the request also carries the previous shot's clip as a reference video, so the
  // shot waits for that clip.
  bool continue_previous = false;
};

struct Shot {
  GenerationRequest request;
  ShotPlay play;
};

// The chapter title of a shot: its own, else its prompt, else "Shot N" (N counting from 1).
std::string shot_title(const Shot &shot, size_t index);

// A shot that cannot be generated. `index` counts from 0; `field` is the wire name of the request
// field ("duration", "video_urls"), "play.<option>" for a play option, or empty for the shot as a
// whole. what() names the shot, the field and the rule.
struct ShotError : std::runtime_error {
  ShotError(size_t index, std::string field, const std::string &message);
  size_t index;
  std::string field;
};

// The rules one shot must follow before it is submitted: the service's own, and a continuity
// shot's (a previous shot, and room for one more reference video). Throws ShotError.
void check_shot(const Shot &shot, size_t index);

// The request of a continuity shot once the previous shot's clip is known: that clip's URL is
// added to its reference videos.
GenerationRequest continued_request(const Shot &shot, const std::string &previous_clip_url);

// Parses a storyboard's text. `defaults`: the fields a shot leaves out. Throws
// std::invalid_argument when the text is not a JSON array of at least one object, and ShotError
// for a shot that breaks a rule (each is checked with check_shot).
std::vector<Shot> parse_storyboard(const std::string &json, const GenerationRequest &defaults);

// Reads and parses a storyboard file; the std::invalid_argument messages name the file.
std::vector<Shot> load_storyboard(const std::string &path, const GenerationRequest &defaults);

}  // namespace see2ai
