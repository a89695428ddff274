// DevServerProcess: runs the real see2ai-devserver binary on a free loopback port for a test, and
// reads its control endpoints (faults, request log, tenants). Killed and reaped on destruction.
#pragma once

#include <glib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace see2ai::test {

struct DevServerArgs {
  std::vector<std::string> keys = {"test-key-0123456789:100000000"};  // KEY:BALANCE
  int latency_ms = 300;
  std::vector<std::string> extra;  // more command line arguments
};

class DevServerProcess {
 public:
  explicit DevServerProcess(DevServerArgs args = {});
  ~DevServerProcess();
  DevServerProcess(const DevServerProcess &) = delete;
  DevServerProcess &operator=(const DevServerProcess &) = delete;

  const std::string &url() const { return url_; }  // http://127.0.0.1:PORT
  const std::string &output_dir() const { return dir_; }
  GPid pid() const { return pid_; }

  // Plain HTTP helpers against the server (libsoup, synchronous). Return the status code.
  int get(const std::string &path, std::string *body = nullptr);
  int post_json(const std::string &path, const std::string &json, const std::string &key,
                std::string *body = nullptr);
  // Adds fault rules (JSON array text) through POST /_dev/faults.
  void add_faults(const std::string &rules_json);
  // The request log: one JSON object text per line.
  std::vector<std::string> request_log();

 private:
  GPid pid_ = 0;
  std::string url_;
  std::string dir_;
};

// A fresh temporary directory under the test's scratch area; removed by the caller if wanted.
std::string make_temp_dir(const char *prefix);
std::string devserver_binary();

}  // namespace see2ai::test
