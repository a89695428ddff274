// status-load: N keep-alive connections polling GET /api/v1/status/{task} on a loopback server as
// fast as it answers, for a bounded time; prints one JSON line with the answers per second.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Poller {
  int fd = -1;
  std::string received;
};

int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, const std::string &text) {
  size_t sent = 0;
  while (sent < text.size()) {
    ssize_t n = send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Length of the first complete response in `buffer` (0: not complete yet), and its status.
size_t complete_response(const std::string &buffer, int *status) {
  size_t head_end = buffer.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  size_t body_length = 0;
  const char *length_header = strcasestr(buffer.c_str(), "\r\ncontent-length:");
  if (length_header && static_cast<size_t>(length_header - buffer.c_str()) < head_end)
    body_length = std::strtoul(length_header + 17, nullptr, 10);
  size_t total = head_end + 4 + body_length;
  if (buffer.size() < total) return 0;
  *status = std::atoi(buffer.c_str() + 9);
  return total;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: status-load PORT TASK_ID API_KEY CONNECTIONS SECONDS\n");
    return 2;
  }
  int port = std::atoi(argv[1]);
  std::string request = std::string("GET /api/v1/status/") + argv[2] +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + argv[3] +
                        "\r\nConnection: keep-alive\r\n\r\n";
  int connections = std::atoi(argv[4]);
  auto duration = std::chrono::seconds(std::atoi(argv[5]));
  if (connections <= 0 || duration.count() <= 0) return 2;

  std::vector<Poller> pollers(static_cast<size_t>(connections));
  for (auto &poller : pollers) {
    poller.fd = connect_to(port);
    if (poller.fd < 0 || !send_all(poller.fd, request)) {
      fprintf(stderr, "status-load: cannot connect to port %d\n", port);
      return 1;
    }
  }
  long answered = 0;
  long not_ok = 0;
  auto start = std::chrono::steady_clock::now();
  auto end = start + duration;
  std::vector<pollfd> waits(pollers.size());
  char chunk[16384];
  while (std::chrono::steady_clock::now() < end) {
    for (size_t i = 0; i < pollers.size(); ++i) waits[i] = pollfd{pollers[i].fd, POLLIN, 0};
    if (poll(waits.data(), waits.size(), 100) < 0) return 1;
    for (size_t i = 0; i < pollers.size(); ++i) {
      if (!(waits[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Poller &poller = pollers[i];
      ssize_t n = recv(poller.fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        // The server closed a keep-alive connection: open a new one and go on polling.
        close(poller.fd);
        poller.received.clear();
        poller.fd = connect_to(port);
        if (poller.fd < 0 || !send_all(poller.fd, request)) return 1;
        continue;
      }
      poller.received.append(chunk, static_cast<size_t>(n));
      int status = 0;
      while (size_t length = complete_response(poller.received, &status)) {
        poller.received.erase(0, length);
        ++answered;
        if (status != 200) ++not_ok;
        if (!send_all(poller.fd, request)) return 1;
      }
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  printf("{\"answered\":%ld,\"not_ok\":%ld,\"seconds\":%.3f,\"per_second\":%.1f}\n", answered,
         not_ok, seconds, answered / seconds);
  for (auto &poller : pollers) close(poller.fd);
  return 0;
}
