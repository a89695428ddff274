#include "raw_responder.h"

#include <algorithm>
#include <chrono>

namespace see2ai::dev {

namespace {

// Filler after the body of an endless answer, and the piece size of unthrottled chunked bodies.
constexpr int64_t kPieceBytes = 16 * 1024;

std::string head_of(const RawAnswer &answer) {
  const char *reason = soup_status_get_phrase(static_cast<guint>(answer.status));
  std::string head = "HTTP/1.1 " + std::to_string(answer.status) + " " +
                     (reason && *reason ? reason : "Status") + "\r\n";
  for (const auto &[name, value] : answer.headers) head += name + ": " + value + "\r\n";
  switch (answer.framing) {
    case BodyFraming::Length: {
      head += "Content-Length: " + std::to_string(answer.body.size()) + "\r\n";
      // A cut answer must look like the network failing: with "Connection: close" libsoup takes
      // the early close for the end of a short body. A whole answer says it so no client reuses
      // the connection this writer closes.
      bool cut_short = answer.cut_at && *answer.cut_at < static_cast<int64_t>(answer.body.size());
      head += cut_short ? "\r\n" : "Connection: close\r\n\r\n";
      break;
    }
    case BodyFraming::Chunked:
      head += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
      break;
    case BodyFraming::UntilClose:
      head += "Connection: close\r\n\r\n";
      break;
  }
  return head;
}

bool write_all(GOutputStream *out, const char *data, size_t size, GCancellable *cancellable) {
  gsize written = 0;
  return g_output_stream_write_all(out, data, size, &written, cancellable, nullptr) &&
         written == size;
}

}  // namespace

RawResponder::RawResponder() : stopping_(g_cancellable_new()) {}

RawResponder::~RawResponder() {
  {
    std::lock_guard<std::mutex> guard(lock_);
    stop_ = true;
  }
  wake_.notify_all();
  g_cancellable_cancel(stopping_);
  for (auto &writer : writers_) writer->thread.join();
  g_object_unref(stopping_);
}

void RawResponder::answer(SoupServerMessage *message, RawAnswer answer,
                          std::function<void(int64_t)> sent) {
  GIOStream *stream = soup_server_message_steal_connection(message);
  if (!stream) {
    sent(0);
    return;
  }
  std::lock_guard<std::mutex> guard(lock_);
  writers_.remove_if([](const std::unique_ptr<Writer> &writer) {
    if (!writer->done) return false;
    writer->thread.join();
    return true;
  });
  auto writer = std::make_unique<Writer>();
  Writer *self = writer.get();
  writer->thread = std::thread([this, self, stream, answer = std::move(answer), sent] {
    write(stream, answer, sent);
    g_io_stream_close(stream, nullptr, nullptr);
    g_object_unref(stream);
    self->done = true;
  });
  writers_.push_back(std::move(writer));
}

bool RawResponder::wait_or_stop(int64_t microseconds) {
  std::unique_lock<std::mutex> guard(lock_);
  return !wake_.wait_for(guard, std::chrono::microseconds(microseconds), [this] { return stop_; });
}

void RawResponder::write(GIOStream *stream, const RawAnswer &answer,
                         const std::function<void(int64_t)> &sent) {
  if (answer.drop_connection) {
    sent(0);
    return;
  }
  GOutputStream *out = g_io_stream_get_output_stream(stream);
  std::string head = head_of(answer);
  if (!write_all(out, head.data(), head.size(), stopping_)) {
    sent(0);
    return;
  }
  if (answer.stall_after_headers) {
    g_output_stream_flush(out, stopping_, nullptr);
    sent(0);
    // Hold the connection open, sending nothing, until the client gives up or the server stops.
    char byte;
    while (g_input_stream_read(g_io_stream_get_input_stream(stream), &byte, 1, stopping_, nullptr) >
           0) {
    }
    return;
  }
  const bool chunked = answer.framing == BodyFraming::Chunked;
  // One piece of the body, framed as a chunk when the body is chunked.
  auto send_piece = [&](const char *data, int64_t size) {
    if (!chunked) return write_all(out, data, static_cast<size_t>(size), stopping_);
    char size_line[32];
    int length = g_snprintf(size_line, sizeof size_line, "%" G_GINT64_MODIFIER "x\r\n", size);
    return write_all(out, size_line, static_cast<size_t>(length), stopping_) &&
           write_all(out, data, static_cast<size_t>(size), stopping_) &&
           write_all(out, "\r\n", 2, stopping_);
  };
  int64_t total = static_cast<int64_t>(answer.body.size());
  const bool cut = answer.cut_at && *answer.cut_at < total;
  if (cut) total = *answer.cut_at;
  int64_t chunk = answer.rate ? std::max<int64_t>(1, *answer.rate / 10)
                  : chunked   ? kPieceBytes
                              : std::max<int64_t>(1, total);
  int64_t written = 0;
  bool going = true;
  while (going && written < total) {
    int64_t size = std::min(chunk, total - written);
    going = send_piece(answer.body.data() + written, size);
    if (!going) break;
    written += size;
    if (answer.rate && written < total && !wait_or_stop(size * 1000000 / *answer.rate))
      going = false;
  }
  if (going && answer.endless && !cut) {
    const std::string filler(static_cast<size_t>(std::min(chunk, kPieceBytes)), '\0');
    const auto piece = static_cast<int64_t>(filler.size());
    while (send_piece(filler.data(), piece)) {
      written += piece;
      if (answer.rate && !wait_or_stop(piece * 1000000 / *answer.rate)) break;
    }
    going = false;
  }
  if (going && chunked && !cut) write_all(out, "0\r\n\r\n", 5, stopping_);
  g_output_stream_flush(out, stopping_, nullptr);
  sent(written);
}

}  // namespace see2ai::dev
