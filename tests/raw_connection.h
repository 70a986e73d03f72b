// A raw TCP connection to a server on loopback, for what no well-behaved HTTP client sends: chunked floods,
// lying lengths, a byte at a time, pipelined requests.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace genrenet::test {

struct RawAnswer {
  int status = 0;  // 0: no answer came (the connection closed or the read timed out)
  std::string head, body;
  bool has_header(const std::string& line) const { return head.find("\r\n" + line + "\r\n") != std::string::npos; }
};

class RawConnection {
 public:
  // `from`: the loopback address the connection comes from (127.0.0.x: as another client would).
  explicit RawConnection(int port, int receive_timeout_s = 20, uint32_t from = INADDR_LOOPBACK) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (from != INADDR_LOOPBACK) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      local.sin_addr.s_addr = htonl(from);
      ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local);
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{receive_timeout_s, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  bool connected() const { return connected_; }
  // False once the server has closed its side.
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  // The next answer, read up to its Content-Length; what arrived beyond it is kept for the next call.
  RawAnswer answer() {
    auto complete = [&] {
      const size_t end = in_.find("\r\n\r\n"), length = in_.find("Content-Length: ");
      return end != std::string::npos && length != std::string::npos && length < end &&
             in_.size() >= end + 4 + std::stoul(in_.substr(length + 16));
    };
    char buf[4096];
    for (ssize_t n; !complete() && (n = ::recv(fd_, buf, sizeof buf, 0)) > 0;) in_.append(buf, static_cast<size_t>(n));
    RawAnswer a;
    if (!complete() || in_.rfind("HTTP/1.1 ", 0) != 0) {
      a.body = std::move(in_);
      in_.clear();
      return a;
    }
    const size_t end = in_.find("\r\n\r\n");
    const size_t length = std::stoul(in_.substr(in_.find("Content-Length: ") + 16));
    a.status = std::stoi(in_.substr(9, 3));
    a.head = in_.substr(0, end + 2);
    a.body = in_.substr(end + 4, length);
    in_.erase(0, end + 4 + length);
    return a;
  }
  // Everything up to and including `marker` (which must come within the receive timeout), taken from what
  // arrives; "" if the connection ends or times out first.
  std::string receive_until(const std::string& marker) {
    char buf[4096];
    for (ssize_t n; in_.find(marker) == std::string::npos && (n = ::recv(fd_, buf, sizeof buf, 0)) > 0;)
      in_.append(buf, static_cast<size_t>(n));
    const size_t at = in_.find(marker);
    if (at == std::string::npos) return {};
    std::string out = in_.substr(0, at + marker.size());
    in_.erase(0, at + marker.size());
    return out;
  }
  // Whether the server closed the connection (reads end) within the receive timeout, with nothing more sent.
  bool closed_by_server() {
    char c;
    return in_.empty() && ::recv(fd_, &c, 1, 0) == 0;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string in_;
};

// A POST of `body` to `target` with its Content-Length, as one string to send.
inline std::string post_request(const std::string& target, const std::string& body) {
  return "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace genrenet::test
