// The HTTP service: the routes of genrenet's model on the service's transport (serve/http_transport.h, which
// holds the limits, deadlines and admission control).
#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include <genrenet/library.h>
#include <genrenet/serve.h>

#include "common/sha256.h"
#include "common/text.h"
#include "infer/classification_json.h"
#include "library/neighbours_json.h"
#include "serve/http_transport.h"
#include "serve/requests.h"

namespace genrenet {

using serve::json_error;
using serve::json_text;
using serve::Request;
using serve::Response;

extern const char* const kIndexHtml;  // src/serve/web/index.html, compiled in

namespace {

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

}  // namespace

struct HttpServer::Impl {
  Classifier classifier;
  ServerOptions options;
  std::string model_json;
  std::optional<SimilarityIndex> library;  // with ServerOptions::index
  // GET /v1/map's answer, made at the first request (it reads up to 20000 files' tags) and kept.
  std::once_flag map_made;
  std::string map_json;
  UnknownOptions unknown;  // the service's rule; a request may override it (min_confidence=, reject_ood=)
  bool has_energy_threshold = false;  // the model is calibrated
  std::optional<serve::HttpTransport> transport;  // last: stopped before what its handlers use goes

  Impl(const std::filesystem::path& model, const ClassifierOptions& co, const ServerOptions& so)
      : classifier(model, with_limit(co, so)), options(so), unknown(co.unknown) {
    nlohmann::json description = nlohmann::json::parse(classifier.describe_json());
    has_energy_threshold = !classifier.calibration().empty();
    if (!so.index.empty()) {
      library = SimilarityIndex::open(so.index);
      library->check_compatible(classifier);  // refused at start, not answered with another space's neighbours
    }
    description["similar"] = library ? nlohmann::json({{"files", library->size()}}) : nlohmann::json(nullptr);
    model_json = description.dump();
  }

  static ClassifierOptions with_limit(ClassifierOptions co, const ServerOptions& so) {
    co.max_seconds = so.max_audio_seconds;
    return co;
  }

  void classify(Request& req, Response& res) {
    std::string upload, name = "upload";
    if (!serve::take_upload(req, res, upload, name)) return;

    serve::ClassifyRequest r;
    try {
      r = serve::classify_request(req, unknown, has_energy_threshold, classifier.classes().size());
    } catch (const Error& e) {
      return json_error(res, 400, e.what());
    }
    const WindowOptions& w = r.windows;

    answered(res, [&] {
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
  void explain(Request& req, Response& res) {
    std::string upload, name = "upload";
    if (!serve::take_upload(req, res, upload, name)) return;
    serve::ExplainRequest r;
    try {
      r = serve::explain_request(req, classifier.classes());
    } catch (const Error& e) {
      return json_error(res, 400, e.what());
    }
    answered(res, [&] {
      const Audio a = decode(upload, name);
      const Explanation e = classifier.explain(a.samples, a.sample_rate, r.options);
      nlohmann::json j = nlohmann::json::parse(e.to_json());
      if (r.png) j["explanation_png"] = base64(explanation_png(e, classifier.features(), {900, 320, ""}));
      res.set_content(json_text(j), "application/json");
    });
  }

  // POST /v1/similar: the index's k nearest files to the upload (its own content left out).
  void similar(Request& req, Response& res) {
    std::string upload, name = "upload";
    if (!serve::take_upload(req, res, upload, name)) return;
    if (!library) return json_error(res, 404, "no similarity index: start the server with --index INDEX");
    int k = 10;
    try {
      k = serve::similar_k(req);
    } catch (const Error& e) {
      return json_error(res, 400, e.what());
    }
    answered(res, [&] {
      const Audio a = decode(upload, name);
      const nlohmann::json n = neighbours_json(library->query(classifier, a.samples, a.sample_rate, k, sha256_hex(upload)));
      res.set_content(json_text({{"neighbours", n}}), "application/json");
    });
  }

  Audio decode(const std::string& body, const std::string& name) const {
    AudioOptions ao = classifier.features().audio;
    ao.max_seconds = options.max_audio_seconds;
    return load_audio({reinterpret_cast<const unsigned char*>(body.data()), body.size()}, name, ao);
  }

  // `work`'s errors become JSON answers with the status their kind says (the transport runs it on a worker
  // thread once admitted).
  template <class Work>
  void answered(Response& res, Work&& work) {
    try {
      work();
    } catch (const Error& e) {
      // Bad audio is the client's: over a limit is 413, anything else it sent that cannot be read is 422.
      json_error(res, e.kind() == ErrorKind::TooLarge ? 413 : e.kind() == ErrorKind::Internal ? 500 : 422, e.what());
    }
  }

  // GET /v1/similar?file=NAME (as the index names it, or the sha256 of its content) or ?row=N: the files
  // most like one already in the library, from its stored embedding (no upload, no model pass).
  void similar_in_library(const Request& req, Response& res) {
    if (!library) return json_error(res, 404, "no similarity index: start the server with --index INDEX");
    int k = 10, row = -1;
    try {
      k = serve::similar_k(req);
      row = serve::similar_row(req, library->size());
      if (row < 0 && req.has_param("file")) {
        row = library->find_row(req.param("file"));
        if (row < 0) return json_error(res, 404, "no file \"" + req.param("file") + "\" in the index");
      }
      if (row < 0) throw Error("file", "give file=NAME (or the sha256 of its content) or row=N; or POST the audio");
    } catch (const Error& e) {
      return json_error(res, 400, e.what());
    }
    res.set_content(json_text({{"row", row}, {"neighbours", neighbours_json(library->search_like_row(row, k))}}), "application/json");
  }

  // GET /v1/map: the library's embeddings in 2-D, coloured by their files' genre tags (map_library).
  void library_map(Response& res) {
    if (!library) return json_error(res, 404, "no similarity index: start the server with --index INDEX");
    answered(res, [&] {
      std::call_once(map_made, [&] { map_json = map_library(*library).to_json(); });
      res.set_content(map_json, "application/json");
    });
  }

  void start_transport() {
    serve::TransportOptions t;
    t.host = options.host;
    t.port = options.port;
    t.max_body_bytes = options.max_body_bytes;
    t.read_timeout_s = options.read_timeout_s;
    t.write_timeout_s = options.write_timeout_s;
    t.workers = options.workers;
    t.queue = options.queue;
    t.queue_timeout_s = options.queue_timeout_s;
    t.retry_after_s = options.retry_after_s;
    // Each upload in progress may hold up to max_body_bytes: as many as before, when a thread read each.
    t.max_uploads = options.max_uploads > 0 ? options.max_uploads : options.workers + options.queue + 64;
    t.max_connections = options.max_connections;
    t.max_connections_per_client = options.max_connections_per_client;
    t.max_upload_bytes_in_progress = options.max_upload_memory_bytes;
    t.log_requests = options.log_requests;
    auto text = [](const char* body, const char* type) {
      return [body, type](Request&, Response& res) { res.set_content(body, type); };
    };
    std::vector<serve::Route> routes = {
        {"GET", "/healthz", text(R"({"status":"ok"})", "application/json")},
        {"GET", "/v1/model", [this](Request&, Response& res) { res.set_content(model_json, "application/json"); }},
        {"GET", "/", text(kIndexHtml, "text/html; charset=utf-8")},
        {"POST", "/v1/classify", [this](Request& req, Response& res) { classify(req, res); }, true},
        {"POST", "/v1/explain", [this](Request& req, Response& res) { explain(req, res); }, true},
        {"POST", "/v1/similar", [this](Request& req, Response& res) { similar(req, res); }, true},
        {"GET", "/v1/similar", [this](Request& req, Response& res) { similar_in_library(req, res); }},
        {"GET", "/v1/map", [this](Request&, Response& res) { library_map(res); }},
    };
    transport.emplace(std::move(t), std::move(routes));
  }
};

HttpServer::HttpServer(const std::filesystem::path& model_file, const ClassifierOptions& classifier,
                       const ServerOptions& options) {
  options.validate();
  impl_ = std::make_unique<Impl>(model_file, classifier, options);
  impl_->start_transport();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() { return impl_->transport->bind(); }

int HttpServer::port() const { return impl_->transport->port(); }

void HttpServer::run() { impl_->transport->run(); }

void HttpServer::stop() {
  if (impl_) impl_->transport->stop();
}

}  // namespace genrenet
