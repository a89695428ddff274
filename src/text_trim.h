// Whitespace trimming for text that came from outside (request fields, service answers).
// One definition of "space" for the whole core: ASCII blanks, as JSON and HTTP use them.
#pragma once

#include <string>

namespace see2ai {

bool is_ascii_space(char c);
std::string trimmed(const std::string &text);

}  // namespace see2ai
