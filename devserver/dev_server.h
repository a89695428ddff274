// DevServer: a local, faithful SEE2AI service over real HTTP (SoupServer): submit (sync and async),
// status, result files with Range, tenants and balances, fault injection and a request log.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace see2ai::dev {

struct Tenant {
  std::string key;
  int64_t balance = 0;
};

struct DevServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                  // 0: pick a free one
  std::vector<Tenant> tenants;   // accepted keys and their balance
  int latency_ms = 3000;         // queued -> running -> succeeded over this long
  int sync_wait_ms = 0;          // a sync submit still going after this long: 504 (0: no limit)
  std::string output_dir;        // rendered clips; created if missing
  std::string log_path;          // JSON lines request log; empty: memory only
  std::string public_url;        // base of result_urls; empty: http://host:port
  std::string fault_rules_json;  // fault rules active from the start (TEAM.md rule format)
};

class DevServer {
 public:
  explicit DevServer(DevServerOptions options);
  ~DevServer();
  DevServer(const DevServer &) = delete;
  DevServer &operator=(const DevServer &) = delete;

  // Starts listening on its own thread and GMainContext. Throws std::runtime_error.
  void start();
  void stop();
  int port() const;
  std::string base_url() const;    // http://127.0.0.1:PORT
  std::string output_dir() const;  // where results are written (a temporary one if none was given)
  // Appends fault rules (a JSON array); throws std::invalid_argument naming the bad key.
  void add_faults(const std::string &rules_json);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace see2ai::dev
