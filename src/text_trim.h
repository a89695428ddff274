// Plain text helpers for text that came from outside (request fields, service answers, logs).
// One definition of "space" for the whole core: ASCII blanks, as JSON and HTTP use them.
#pragma once

#include <string>

namespace see2ai {

bool is_ascii_space(char c);
std::string trimmed(const std::string &text);
// Every occurrence of `what` replaced by `with` (nothing when `what` is empty).
std::string replace_all(std::string text, const std::string &what, const std::string &with);

}  // namespace see2ai
