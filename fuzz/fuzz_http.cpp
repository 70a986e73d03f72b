// The HTTP handlers' parsing of what clients send: each input is the raw bytes of one connection (request
// line, headers, query string, a multipart, chunked or plain body, or anything else) sent to a real httplib
// server on loopback whose routes run genrenet's own request code (src/serve/requests.cpp: the upload held
// to its limits, multipart part choice, file names, every query parameter of POST /v1/classify, /v1/explain,
// /v1/similar and GET /v1/similar) and answer with what they parsed instead of classifying. An answer that
// is not HTTP, an exception other than genrenet::Error escaping a handler, a crash or UB in a handler thread
// is a finding.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "serve/requests.h"

namespace {

using namespace genrenet;

// Every parsed value goes into the answer, so that all of it is computed and serialised.
void parsed(httplib::Response& res, nlohmann::json j) { res.set_content(serve::json_text(j), "application/json"); }

template <class Parse>
void route(httplib::Server& s, const char* path, Parse parse) {
  s.Post(path, [parse](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    std::string body, name = "upload";
    if (!serve::read_upload(req, res, reader, {64 * 1024, 2}, body, name)) return;
    try {
      nlohmann::json j = parse(req);
      j["name"] = name;
      j["bytes"] = body.size();
      parsed(res, j);
    } catch (const Error& e) {
      serve::json_error(res, 400, e.what());
    }
  });
}

int start_server() {
  static httplib::Server server;
  const std::vector<std::string> classes = {"blues", "rock", "hip hop"};
  route(server, "/v1/classify", [](const httplib::Request& req) {
    UnknownOptions service;
    const auto r = serve::classify_request(req, service, req.has_param("calibrated"), 10);
    return nlohmann::json({{"windows", r.windows.windows}, {"window", r.windows.window_seconds}, {"hop", r.windows.hop_seconds},
                           {"per_window", r.windows.per_window}, {"min_confidence", r.unknown.min_confidence},
                           {"reject_ood", r.unknown.out_of_distribution}, {"spectrogram", r.spectrogram}, {"top", r.top}});
  });
  route(server, "/v1/explain", [classes](const httplib::Request& req) {
    const auto r = serve::explain_request(req, classes);
    return nlohmann::json({{"genre", r.options.genre}, {"window", r.options.windows.window_seconds},
                           {"hop", r.options.windows.hop_seconds}, {"png", r.png}});
  });
  route(server, "/v1/similar", [](const httplib::Request& req) { return nlohmann::json({{"k", serve::similar_k(req)}}); });
  server.Get("/v1/similar", [](const httplib::Request& req, httplib::Response& res) {
    try {
      parsed(res, {{"k", serve::similar_k(req)}, {"row", serve::similar_row(req, 100)}, {"file", req.get_param_value("file")}});
    } catch (const Error& e) {
      serve::json_error(res, 400, e.what());
    }
  });
  // As in the service (src/serve/http_server.cpp); anything else that escapes a handler is a finding.
  server.set_exception_handler([](const httplib::Request&, httplib::Response&, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "exception escaped a handler: %s\n", e.what());
    }
    std::abort();
  });
  server.set_payload_max_length(64 * 1024);
  server.set_read_timeout(1, 0);
  server.set_keep_alive_timeout(1);
  const int port = server.bind_to_any_port("127.0.0.1");
  if (port <= 0) std::abort();
  std::thread([] { server.listen_after_bind(); }).detach();
  return port;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  static const int port = start_server();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = -1;
  // Thousands of connections a second: the client's sockets are reset on close rather than left in
  // TIME_WAIT (which ran out of local ports after ~250,000 inputs), and a refused connect is retried.
  for (int attempt = 0; fd < 0; ++attempt) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const linger reset{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      fd = -1;
      if (attempt == 200) {
        std::perror("connect to the server under test");
        std::abort();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  for (size_t sent = 0; sent < size;) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed early (a refused request): fine
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);  // the end of the request: no input waits for a timeout
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (!answer.empty() && answer.rfind("HTTP/1.1 ", 0) != 0) {
    std::fprintf(stderr, "not an HTTP answer: %.80s\n", answer.c_str());
    std::abort();
  }
  return 0;
}
