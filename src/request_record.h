// RequestRecord: what a cache entry was asked for and how long it took, kept beside the clip in
// <dir>/requests/<key>.json: the cache command shows the prompt of a clip or of a pending task,
// collects a pending task from the right service, and the time estimate learns from finished tasks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client_config.h"
#include "generation_request.h"

namespace see2ai {

struct RequestRecord {
  std::string prompt;
  std::string model;  // the wire id, e.g. doubao-seedance-2-0-260128
  std::string resolution;
  int duration = 0;  // as requested (-1: the model decides)
  std::string aspect_ratio;
  bool generate_audio = false;
  std::string api_url;
  std::string status_path;
  int64_t submitted_at_us = 0;  // wall clock, when the submit was sent
  // Once the task succeeded: when it was seen to, and how long it took (the service's cost_time,
  // else submit to the answer that said so).
  std::optional<int64_t> finished_at_us;
  std::optional<int64_t> generation_ms;
};

// The record of a request about to be submitted now (no key, no reference URL: nothing secret).
RequestRecord record_for(const GenerationRequest &request, const ClientConfig &config);

std::string request_record_path(const std::string &cache_dir, const std::string &key);
// Written atomically; creates requests/. Throws std::runtime_error.
void write_request_record(const std::string &cache_dir, const std::string &key,
                          const RequestRecord &record);
// Nothing when missing or unreadable.
std::optional<RequestRecord> read_request_record(const std::string &cache_dir,
                                                 const std::string &key);
// Every readable record, with its key.
std::vector<std::pair<std::string, RequestRecord>> read_request_records(
    const std::string &cache_dir);
void remove_request_record(const std::string &cache_dir, const std::string &key);

}  // namespace see2ai
