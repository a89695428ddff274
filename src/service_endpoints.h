// ServiceEndpoints: where the service's API lives (the submit and status URLs built from the
// config) and how much of one of its JSON answers is read before it counts as garbage.
#pragma once

#include <cstddef>
#include <string>

#include "client_config.h"

namespace see2ai {

// JSON answers are small; a bigger one comes from a misbehaving proxy, not from the service.
constexpr size_t kMaxAnswerBytes = 1024 * 1024;

// POST {api-url}/api/v1/actions/see2ai_video_generation_v1
std::string submit_url(const ClientConfig &config);

// {api-url}{status-path} with {task_id} replaced by the URL-escaped id.
std::string status_url(const ClientConfig &config, const std::string &task_id);

}  // namespace see2ai
