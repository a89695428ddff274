// Reading a small file (a cache entry, a journal entry, a request record) whole, as text.
#pragma once

#include <optional>
#include <string>

namespace see2ai {

// The file's bytes, or nothing when it cannot be read (missing, unreadable).
std::optional<std::string> read_file_text(const std::string &path);

}  // namespace see2ai
