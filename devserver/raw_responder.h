// RawResponder: answers a request by taking over its connection and writing the HTTP bytes itself,
// so faults can drop, cut, stall or throttle an answer the way broken servers and networks do.
#pragma once

#include <libsoup/soup.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace see2ai::dev {

// How the end of the body is told: by its length, by a last empty chunk, or by closing.
enum class BodyFraming { Length, Chunked, UntilClose };

struct RawAnswer {
  int status = 200;
  // Besides Content-Length, Transfer-Encoding and Connection.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  BodyFraming framing = BodyFraming::Length;
  bool drop_connection = false;   // close without a byte
  std::optional<int64_t> cut_at;  // close after this many body bytes (a chunk ends there)
  bool stall_after_headers = false;
  std::optional<int64_t> rate;  // body bytes per second
  bool endless = false;         // after the body, filler until the client goes (not with Length)
};

class RawResponder {
 public:
  RawResponder();
  ~RawResponder();  // ends every answer still going (closes the connections) and joins
  RawResponder(const RawResponder &) = delete;
  RawResponder &operator=(const RawResponder &) = delete;

  // Call on the server's context from a handler (or for a paused message). The answer is written
  // on a thread of its own; `sent(body_bytes)` runs there once the bytes are out (for a stall:
  // once the headers are out).
  void answer(SoupServerMessage *message, RawAnswer answer, std::function<void(int64_t)> sent);

 private:
  struct Writer {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void write(GIOStream *stream, const RawAnswer &answer, const std::function<void(int64_t)> &sent);
  bool wait_or_stop(int64_t microseconds);

  GCancellable *stopping_;
  std::mutex lock_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::list<std::unique_ptr<Writer>> writers_;
};

}  // namespace see2ai::dev
