#include "service_endpoints.h"

#include <glib.h>

#include <cstring>

namespace see2ai {
namespace {

std::string api_base_url(const ClientConfig &config) {
  std::string url = config.api_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

std::string submit_url(const ClientConfig &config) {
  return api_base_url(config) + "/api/v1/actions/see2ai_video_generation_v1";
}

std::string status_url(const ClientConfig &config, const std::string &task_id) {
  gchar *escaped = g_uri_escape_string(task_id.c_str(), nullptr, FALSE);
  std::string path = config.status_path;
  const std::string placeholder = "{task_id}";
  for (size_t at = path.find(placeholder); at != std::string::npos;
       at = path.find(placeholder, at + strlen(escaped)))
    path.replace(at, placeholder.size(), escaped);
  g_free(escaped);
  return api_base_url(config) + path;
}

}  // namespace see2ai
