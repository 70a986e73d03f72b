// The service's reading of what clients send: each input is the raw bytes of one connection (request line,
// headers, query string, a multipart, chunked or plain body, pipelined requests, or anything else) sent to the
// service's own HTTP transport (src/serve/http_transport.cpp: Beast's parser, the limits, deadlines,
// pipelining and admission) on loopback, whose routes run genrenet's own request code (src/serve/requests.cpp
// and http_message.cpp: the upload and its multipart form, file names, every query parameter of POST
// /v1/classify, /v1/explain, /v1/similar and GET /v1/similar) and answer with what they parsed instead of
// classifying. An answer that is not HTTP, an exception other than genrenet::Error escaping a handler, a crash
// or UB in any thread is a finding.
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

#include "serve/http_transport.h"
#include "serve/requests.h"

namespace {

using namespace genrenet;
using serve::Request;
using serve::Response;

// Every parsed value goes into the answer, so that all of it is computed and serialised.
void parsed(Response& res, nlohmann::json j) { res.set_content(serve::json_text(j), "application/json"); }

template <class Parse>
serve::Route route(const char* path, Parse parse) {
  return {"POST", path, [parse](Request& req, Response& res) {
            std::string body, name = "upload";
            if (!serve::take_upload(req, res, body, name)) return;
            try {
              nlohmann::json j = parse(req);
              j["name"] = name;
              j["bytes"] = body.size();
              parsed(res, j);
            } catch (const Error& e) {
              serve::json_error(res, 400, e.what());
            }
          },
          true};
}

// As in the service (src/serve/http_server.cpp), but anything other than genrenet::Error escaping a
// handler is a finding, not a 500.
template <class Handle>
std::function<void(Request&, Response&)> strict(Handle handle) {
  return [handle](Request& req, Response& res) {
    try {
      handle(req, res);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "exception escaped a handler: %s\n", e.what());
      std::abort();
    }
  };
}

serve::HttpTransport* g_server = nullptr;

int start_server() {
  const std::vector<std::string> classes = {"blues", "rock", "hip hop"};
  std::vector<serve::Route> routes = {
      route("/v1/classify", [](const Request& req) {
        UnknownOptions service;
        const auto r = serve::classify_request(req, service, req.has_param("calibrated"), 10);
        return nlohmann::json({{"windows", r.windows.windows}, {"window", r.windows.window_seconds}, {"hop", r.windows.hop_seconds},
                               {"per_window", r.windows.per_window}, {"min_confidence", r.unknown.min_confidence},
                               {"reject_ood", r.unknown.out_of_distribution}, {"spectrogram", r.spectrogram}, {"top", r.top}});
      }),
      route("/v1/explain", [classes](const Request& req) {
        const auto r = serve::explain_request(req, classes);
        return nlohmann::json({{"genre", r.options.genre}, {"window", r.options.windows.window_seconds},
                               {"hop", r.options.windows.hop_seconds}, {"png", r.png}});
      }),
      route("/v1/similar", [](const Request& req) { return nlohmann::json({{"k", serve::similar_k(req)}}); }),
      {"GET", "/v1/similar", [](Request& req, Response& res) {
         try {
           parsed(res, {{"k", serve::similar_k(req)}, {"row", serve::similar_row(req, 100)}, {"file", req.param("file")}});
         } catch (const Error& e) {
           serve::json_error(res, 400, e.what());
         }
       }},
      {"GET", "/healthz", [](Request&, Response& res) { res.set_content(R"({"status":"ok"})", "application/json"); }},
  };
  for (auto& r : routes) r.handle = strict(r.handle);
  serve::TransportOptions o;
  o.max_body_bytes = 64 * 1024;
  o.read_timeout_s = 1;
  o.write_timeout_s = 1;
  o.workers = 2;
  o.queue = 2;
  o.log_requests = false;
  // Never destroyed: its I/O thread is detached and runs until the process ends, and a static transport was
  // destroyed at exit under that thread's running handlers (UBSan: a timer's service gone under it).
  g_server = new serve::HttpTransport(o, std::move(routes));
  const int port = g_server->bind();
  if (port <= 0) std::abort();
  std::thread([] { g_server->run(); }).detach();
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
  // Until the server has let go of the connection: what it allocated for this input is freed within the
  // input, so libFuzzer's per-input leak check (run when mallocs and frees differ) stays quiet and cheap.
  for (int i = 0; i < 2000 && g_server->open_connections() > 0; ++i) std::this_thread::sleep_for(std::chrono::microseconds(50));
  if (!answer.empty() && answer.rfind("HTTP/1.1 ", 0) != 0) {
    std::fprintf(stderr, "not an HTTP answer: %.80s\n", answer.c_str());
    std::abort();
  }
  return 0;
}
