// The HTTP service: cpp-httplib's server and thread pool, admission control in front of the Classifier.
#include <httplib.h>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include <genrenet/library.h>
#include <genrenet/serve.h>

#include "common/sha256.h"
#include "common/text.h"
#include "eval/classification_json.h"
#include "eval/embedding_store.h"
#include "library/neighbours_json.h"
#include "serve/requests.h"

namespace genrenet {

using serve::json_error;
using serve::json_text;

extern const char* const kIndexHtml;  // src/serve/web/index.html, compiled in

void ServerOptions::validate() const {
  if (port < 0 || port > 65535) throw Error("--port", "must be in [0, 65535]");
  if (max_body_bytes < 1024) throw Error("--max-body-mb", "must be at least 1 KiB");
  if (!(max_audio_seconds > 0 && max_audio_seconds <= 24 * 3600)) throw Error("--max-seconds", "must be in (0, 86400]");
  if (workers < 1 || workers > 64) throw Error("--workers", "must be in [1, 64]");
  if (queue < 0 || queue > 1024) throw Error("--queue", "must be in [0, 1024]");
  if (!(queue_timeout_s > 0)) throw Error("--queue-timeout", "must be positive");
  if (retry_after_s < 1) throw Error("--retry-after", "must be at least 1 s");
  if (read_timeout_s < 1 || write_timeout_s < 1) throw Error("timeouts", "must be at least 1 s");
}

namespace {

constexpr int kConnectionThreads = 64;  // threads beyond workers + queue, for connections still sending

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], i + 1 < in.size() ? t[(v >> 6) & 63] : '=', '='};
  }
  return out;
}

// A bounded waiting room: `workers` slots, `queue` places to wait in; admit() says whether a request may
// even wait, acquire() waits for a slot up to a timeout.
class Admission {
 public:
  Admission(int workers, int queue) : workers_(workers), capacity_(workers + queue) {}
  bool admit() {
    std::lock_guard lock(m_);
    if (inside_ >= capacity_) return false;
    ++inside_;
    return true;
  }
  bool acquire(double timeout_s) {
    std::unique_lock lock(m_);
    if (!cv_.wait_for(lock, std::chrono::duration<double>(timeout_s), [&] { return busy_ < workers_; })) {
      --inside_;
      return false;
    }
    ++busy_;
    return true;
  }
  // Returns whether no request is left inside.
  bool release() {
    bool idle;
    {
      std::lock_guard lock(m_);
      --busy_;
      --inside_;
      idle = inside_ == 0;
    }
    cv_.notify_one();
    return idle;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int workers_, capacity_, busy_ = 0, inside_ = 0;
};

}  // namespace

struct HttpServer::Impl {
  Classifier classifier;
  ServerOptions options;
  httplib::Server server;
  Admission admission;
  std::string model_json;
  std::optional<SimilarityIndex> library;  // with ServerOptions::index
  UnknownOptions unknown;  // the service's rule; a request may override it (min_confidence=, reject_ood=)
  bool has_energy_threshold = false;  // the model is calibrated
  int port = -1;

  Impl(const std::filesystem::path& model, const ClassifierOptions& co, const ServerOptions& so)
      : classifier(model, with_limit(co, so)), options(so), admission(so.workers, so.queue),
        unknown(co.unknown) {
    nlohmann::json description = nlohmann::json::parse(classifier.describe_json());
    has_energy_threshold = !description["calibration"].is_null();
    if (!so.index.empty()) {
      library = SimilarityIndex::open(so.index);
      // Embeddings of two networks are not comparable: the index must hold this model's.
      if (weights_sha256(model) != library->weights_sha256())
        throw Error(so.index, "holds the embeddings of another model (" + library->model_file() + "), not of " + model.string());
    }
    description["similar"] = library ? nlohmann::json({{"files", library->size()}}) : nlohmann::json(nullptr);
    model_json = description.dump();
  }

  static ClassifierOptions with_limit(ClassifierOptions co, const ServerOptions& so) {
    co.max_seconds = so.max_audio_seconds;
    return co;
  }

  void classify(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    std::string upload, name = "upload";
    if (!serve::read_upload(req, res, reader, {options.max_body_bytes, options.read_timeout_s}, upload, name)) return;

    serve::ClassifyRequest r;
    try {
      r = serve::classify_request(req, unknown, has_energy_threshold, classifier.classes().size());
    } catch (const Error& e) {
      return json_error(res, 400, e.what());
    }
    const WindowOptions& w = r.windows;

    admitted(res, [&] {
      // Decoded once, for the classification and for the picture.
      const auto t0 = std::chrono::steady_clock::now();
      const Audio a = decode(upload, name);
      Classification c = classifier.classify(a.samples, a.sample_rate, w);
      c.decide(r.unknown);
      c.seconds_taken = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();  // decoding too
      nlohmann::json j = classification_json(c, r.top);
      if (r.spectrogram) {
        // The picture is of the decoded audio as the model sees it (standardised log-mel), at most 30 s of it.
        const size_t keep = std::min(a.samples.size(), static_cast<size_t>(30.0 * a.sample_rate));
        Spectrogram s = classifier.log_mel(std::span<const float>(a.samples).first(keep), a.sample_rate);
        j["spectrogram_png"] = base64(spectrogram_png(s, classifier.features(), false, {900, 320, "Log-mel spectrogram of " + name}));
      }
      res.set_content(json_text(j), "application/json");
    });
  }

  // POST /v1/explain: Grad-CAM of the upload for `genre` (default: the most probable), as the per-window
  // shares of Explanation::to_json and, unless png=0, the picture.
  void explain(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    std::string upload, name = "upload";
    if (!serve::read_upload(req, res, reader, {options.max_body_bytes, options.read_timeout_s}, upload, name)) return;
    serve::ExplainRequest r;
    try {
      r = serve::explain_request(req, classifier.classes());
    } catch (const Error& e) {
      return json_error(res, 400, e.what());
    }
    admitted(res, [&] {
      const Audio a = decode(upload, name);
      const Explanation e = classifier.explain(a.samples, a.sample_rate, r.options);
      nlohmann::json j = nlohmann::json::parse(e.to_json());
      if (r.png) j["explanation_png"] = base64(explanation_png(e, classifier.features(), {900, 320, ""}));
      res.set_content(json_text(j), "application/json");
    });
  }

  // POST /v1/similar: the index's k nearest files to the upload (its own content left out).
  void similar(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    std::string upload, name = "upload";
    if (!serve::read_upload(req, res, reader, {options.max_body_bytes, options.read_timeout_s}, upload, name)) return;
    if (!library) return json_error(res, 404, "no similarity index: start the server with --index INDEX");
    int k = 10;
    try {
      k = serve::similar_k(req);
    } catch (const Error& e) {
      return json_error(res, 400, e.what());
    }
    admitted(res, [&] {
      const Audio a = decode(upload, name);
      const Embedding e = classifier.embed(a.samples, a.sample_rate);
      const nlohmann::json n = neighbours_json(library->search(e.values, k, sha256_hex(upload)));
      res.set_content(json_text({{"neighbours", n}}), "application/json");
    });
  }

  Audio decode(const std::string& body, const std::string& name) const {
    AudioOptions ao = classifier.features().audio;
    ao.max_seconds = options.max_audio_seconds;
    return load_audio({reinterpret_cast<const unsigned char*>(body.data()), body.size()}, name, ao);
  }

  // `work` once a worker is free (503 when every worker and queue place is taken, or after queue_timeout_s);
  // its errors become JSON answers with the status their kind says.
  template <class Work>
  void admitted(httplib::Response& res, Work&& work) {
    if (!admission.admit()) {
      res.set_header("Retry-After", std::to_string(options.retry_after_s));
      return json_error(res, 503, "busy: every worker and queue place is taken; retry later");
    }
    if (!admission.acquire(options.queue_timeout_s)) {
      res.set_header("Retry-After", std::to_string(options.retry_after_s));
      return json_error(res, 503, "busy: waited too long for a worker; retry later");
    }
    struct Release {
      Admission& a;
      // The process keeps freed memory for the next request (tune_allocator_for_batch_work); once no request
      // is left it gives it back, so that a burst does not leave the service a gigabyte larger for good.
      ~Release() {
        if (a.release()) malloc_trim(0);
      }
    } release{admission};
    try {
      work();
    } catch (const Error& e) {
      // Bad audio is the client's: over a limit is 413, anything else it sent that cannot be read is 422.
      json_error(res, e.kind() == ErrorKind::TooLarge ? 413 : e.kind() == ErrorKind::Internal ? 500 : 422, e.what());
    } catch (const std::exception& e) {
      json_error(res, 500, std::string("internal error: ") + e.what());
    }
  }

  // GET /v1/similar?file=NAME (as the index names it, or the sha256 of its content) or ?row=N: the files
  // most like one already in the library, from its stored embedding (no upload, no model pass).
  void similar_in_library(const httplib::Request& req, httplib::Response& res) {
    if (!library) return json_error(res, 404, "no similarity index: start the server with --index INDEX");
    int k = 10, row = -1;
    try {
      k = serve::similar_k(req);
      row = serve::similar_row(req, library->size());
      if (row < 0 && req.has_param("file")) {
        row = library->find_row(req.get_param_value("file"));
        if (row < 0) return json_error(res, 404, "no file \"" + req.get_param_value("file") + "\" in the index");
      }
      if (row < 0) throw Error("file", "give file=NAME (or the sha256 of its content) or row=N; or POST the audio");
    } catch (const Error& e) {
      return json_error(res, 400, e.what());
    }
    res.set_content(json_text({{"row", row}, {"neighbours", neighbours_json(library->search_like_row(row, k))}}), "application/json");
  }

  void install_routes() {
    // One thread per open connection: the classifications are bounded by Admission, the threads only wait
    // on sockets, so there are many more of them than workers (a few slow clients held all of 4 spare
    // threads, and /healthz waited 17 s behind them).
    server.new_task_queue = [n = options.workers + options.queue + kConnectionThreads] { return new httplib::ThreadPool(n); };
    server.set_payload_max_length(options.max_body_bytes);
    // httplib's default is SO_REUSEPORT, which lets a second server on the same port share (steal) its
    // connections silently; SO_REUSEADDR alone allows a quick restart and makes a busy port an error.
    server.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server.set_read_timeout(options.read_timeout_s, 0);
    server.set_write_timeout(options.write_timeout_s, 0);
    server.set_keep_alive_max_count(100);
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    server.Get("/v1/model", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(model_json, "application/json");
    });
    server.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(kIndexHtml, "text/html; charset=utf-8"); });
    server.Post("/v1/classify", [this](const httplib::Request& req, httplib::Response& res,
                                       const httplib::ContentReader& reader) { classify(req, res, reader); });
    server.Post("/v1/explain", [this](const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader& reader) { explain(req, res, reader); });
    server.Post("/v1/similar", [this](const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader& reader) { similar(req, res, reader); });
    server.Get("/v1/similar", [this](const httplib::Request& req, httplib::Response& res) { similar_in_library(req, res); });
    // The resource exists; only POST classifies (a GET was a 404 before, which says it does not).
    for (const char* path : {"/v1/classify", "/v1/explain"})
      server.Get(path, [path](const httplib::Request&, httplib::Response& res) {
        res.set_header("Allow", "POST");
        json_error(res, 405, std::string("method not allowed: POST the audio to ") + path);
      });
    // httplib's own refusals (413 for a large body, 404, 400 for a broken request) become JSON too.
    server.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string message = res.status == 404   ? "no such resource"
                            : res.status == 413 ? "upload too large: the limit is " +
                                                      std::to_string(options.max_body_bytes >> 20) + " MiB"
                            : res.status == 405 ? "method not allowed"
                                                : "bad request";
      json_error(res, res.status, message);
      return httplib::Server::HandlerResponse::Handled;
    }));
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      json_error(res, 500, "internal error: " + what);
    });
    if (options.log_requests)
      server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
        std::fprintf(stderr, "%s %s -> %d (%zu bytes in, %zu out)\n", req.method.c_str(), req.path.c_str(), res.status,
                     req.body.size(), res.body.size());
      });
  }
};

HttpServer::HttpServer(const std::filesystem::path& model_file, const ClassifierOptions& classifier,
                       const ServerOptions& options) {
  options.validate();
  impl_ = std::make_unique<Impl>(model_file, classifier, options);
  impl_->install_routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  auto& o = impl_->options;
  if (o.port == 0) {
    impl_->port = impl_->server.bind_to_any_port(o.host);
    if (impl_->port < 0) throw Error(o.host, "cannot bind to any port");
  } else {
    if (!impl_->server.bind_to_port(o.host, o.port))
      throw Error(o.host + ":" + std::to_string(o.port), "cannot listen here (in use, or not an address of this machine)");
    impl_->port = o.port;
  }
  return impl_->port;
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::run() {
  if (impl_->port < 0) bind();
  impl_->server.listen_after_bind();
}

void HttpServer::stop() {
  if (impl_ && impl_->server.is_running()) impl_->server.stop();
}

}  // namespace genrenet
