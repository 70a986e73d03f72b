// genrenet/serve.h — a genrenet model over HTTP/1.1 (Boost.Beast), with a web page.
//
//   POST /v1/classify   an audio file as the raw body or as multipart/form-data (field "file"); query:
//                       top=K, windows=0|1, window=S, hop=S, per_window=1, spectrogram=1 (a PNG, base64),
//                       min_confidence=P, reject_ood=0|1 (when to answer "unknown"; default: the service's)
//   POST /v1/explain    Grad-CAM of the upload: genre=G, window=S, hop=S, png=0|1
//   POST /v1/similar    with --index: the library's files that sound most like the upload: k=N (default 10)
//   GET  /v1/model      the model: architecture, classes, input shape, feature options
//   GET  /healthz       {"status": "ok"}
//   GET  /              a page: pick or drop a file, see the genres as bars and the log-mel spectrogram
//
// Every error is JSON {"error": "...", "status": N}. Classification runs on at most `workers` requests at
// once; up to `queue` more wait (at most `queue_timeout_s`); beyond that the answer is 503 with Retry-After.
// A request's line and headers must arrive within `read_timeout_s` (and an upload's whole body within as
// long again), uploads are held to `max_body_bytes` as they arrive, pipelined requests are answered in order.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include <genrenet/classifier.h>

namespace genrenet {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback only unless asked: the service has no authentication
  int port = 8080;                 // 0: any free port (see HttpServer::port())
  std::size_t max_body_bytes = 64u << 20;  // uploads above this: 413
  double max_audio_seconds = 900;  // decoded audio above this: 413
  int workers = 1;                 // classifications at once (each uses every model thread), [1, 64]
  int queue = 8;                   // requests that may wait for a worker, [0, 1024]
  double queue_timeout_s = 30;     // a waiting request gives up with 503 after this
  int retry_after_s = 2;           // the Retry-After of a 503
  int read_timeout_s = 30;         // for a request's headers, and again for an upload's whole body: else 408
  int write_timeout_s = 30;        // for one answer
  int max_uploads = 0;             // uploads received at once, beyond which 503; 0: workers + queue + 64
  int max_connections = 512;       // connections open at once, beyond which 503, [1, 100000]
  int max_connections_per_client = 64;  // of them from one client address, beyond which 503, [1, 100000]
  std::size_t max_upload_memory_bytes = 512u << 20;  // uploads being received, together (each at its
                                                     // Content-Length, chunked ones at max_body_bytes): else 503
  bool log_requests = true;        // one line per request on stderr
  std::string index;               // a similarity index folder (genrenet index build) of the same model: /v1/similar
  void validate() const;
};

class HttpServer {
 public:
  HttpServer(const std::filesystem::path& model_file, const ClassifierOptions& classifier, const ServerOptions& options);
  ~HttpServer();
  // Binds the socket (throws Error when it cannot) and returns the port, then `run()` serves.
  int bind();
  int port() const;
  void run();   // blocks until stop()
  void stop();  // from any thread or a signal-safe watcher

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace genrenet
