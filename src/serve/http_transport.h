// The service's HTTP/1.1 transport: Boost.Beast's parser over Boost.Asio sockets, a few I/O threads for every
// connection, and the model work on worker threads behind admission control. It holds what a hostile or
// unlucky client could otherwise use against the service:
//   - the request line and headers must arrive within read_timeout_s (8 KiB at most, else 431), and an idle
//     keep-alive connection is closed after as long;
//   - an upload's whole body must arrive within read_timeout_s of its headers (408), and it is held to
//     max_body_bytes as it arrives, chunked or not (413; a Content-Length above the limit is refused before
//     any of the body is read);
//   - requests pipelined on one connection are answered in order (the bytes of the next request read along
//     with one are kept for it);
//   - at most max_uploads bodies are received at once, together at most max_upload_bytes_in_progress (each
//     counted at its Content-Length, or at max_body_bytes when chunked), and at most max_connections
//     connections are open, max_connections_per_client of them from one address (503 beyond any), so slow
//     or greedy clients hold neither threads nor unbounded memory, nor every connection;
//   - upload routes run on `workers` threads, with up to `queue` more requests waiting at most
//     queue_timeout_s; beyond that 503 with Retry-After.
// Every answer it gives itself (404, 405, 408, 413, 431, 400, 503) is JSON {"error": ..., "status": N}.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "serve/http_message.h"

namespace genrenet::serve {

struct TransportState;  // http_transport.cpp

struct TransportOptions {
  std::string host = "127.0.0.1";
  int port = 0;                            // 0: any free port
  std::size_t max_body_bytes = 64u << 20;  // an upload route's body
  int read_timeout_s = 30;                 // for the headers of a request, and again for an upload's body
  int write_timeout_s = 30;                // for one answer
  int workers = 1, queue = 8;              // upload routes at once, and waiting for one of them
  double queue_timeout_s = 30;
  int retry_after_s = 2;
  int max_uploads = 73;       // bodies being received at once
  int max_connections = 512;  // connections open at once
  int max_connections_per_client = 64;                    // of them from one address
  std::size_t max_upload_bytes_in_progress = 512u << 20;  // the bodies being received, together
  int io_threads = 2;
  bool log_requests = true;  // one line per request on stderr
};

struct Route {
  std::string method, path;
  // Runs on an I/O thread for a light route; for an upload route, on a worker thread once admitted. An
  // exception that escapes it is a 500.
  std::function<void(Request&, Response&)> handle;
  bool upload = false;  // takes a body up to max_body_bytes and is model work (admitted, on a worker thread)
};

class HttpTransport {
 public:
  HttpTransport(TransportOptions options, std::vector<Route> routes);
  // Stops serving; a run() on another thread must have returned (join it first): the handlers it is still
  // running use the state this destroys.
  ~HttpTransport();
  int bind();  // Error when the address cannot be listened on; returns the port
  int port() const;
  int open_connections() const;  // connections whose state is still held (a closed one until its last step ends)
  void run();   // serves until stop()
  void stop();  // from any thread

 private:
  std::unique_ptr<TransportState> state_;
};

}  // namespace genrenet::serve
