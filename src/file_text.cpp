#include "file_text.h"

#include <glib.h>

namespace see2ai {

std::optional<std::string> read_file_text(const std::string &path) {
  gchar *contents = nullptr;
  gsize length = 0;
  if (!g_file_get_contents(path.c_str(), &contents, &length, nullptr)) return std::nullopt;
  std::string text(contents, length);
  g_free(contents);
  return text;
}

}  // namespace see2ai
