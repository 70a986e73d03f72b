// genrenet serve: a model over HTTP with a web page (see include/genrenet/serve.h for the endpoints).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <genrenet/serve.h>

#include "cli/commands.h"
#include "common/stop_signals.h"

namespace genrenet::cli {
namespace {

struct ServeArgs {
  std::string model;
  ClassifierOptions classifier;
  ServerOptions server;
  double max_body_mb = 64, max_upload_memory_mb = 512;
  bool quiet = false;
};

int run_serve(ServeArgs& a) {
  a.server.max_body_bytes = static_cast<size_t>(a.max_body_mb * (1 << 20));
  a.server.max_upload_memory_bytes = static_cast<size_t>(a.max_upload_memory_mb * (1 << 20));
  a.server.log_requests = !a.quiet;
  HttpServer server(a.model, a.classifier, a.server);
  const int port = server.bind();
  std::printf("genrenet serve: %s on http://%s:%d/ (POST /v1/classify, /v1/explain, /v1/similar, GET /v1/model, GET /healthz); Ctrl-C stops\n",
              a.model.c_str(), a.server.host.c_str(), port);
  std::fflush(stdout);
  // Signals only set a flag; this thread turns it into a clean stop (stopping is not signal-safe).
  StopSignals signals;
  std::atomic<bool> stopped = false;
  std::thread watcher([&] {
    while (!*signals.flag() && !stopped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.stop();
  });
  server.run();
  stopped = true;
  watcher.join();
  std::printf("genrenet serve: stopped\n");
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "Serve a model over HTTP, with a web page at /");
  cmd->add_option("--model,-m", a->model, "A genrenet model file (.safetensors)")->required();
  cmd->add_option("--host", a->server.host, "Address to listen on (0.0.0.0 exposes it to the network)")->capture_default_str();
  cmd->add_option("--port", a->server.port, "Port (0: any free one, printed)")->capture_default_str();
  cmd->add_option("--workers", a->server.workers, "Classifications at once")->capture_default_str();
  cmd->add_option("--queue", a->server.queue, "Requests that may wait for a worker; more get 503")->capture_default_str();
  cmd->add_option("--queue-timeout", a->server.queue_timeout_s, "Seconds a request may wait for a worker")->capture_default_str();
  cmd->add_option("--max-body-mb", a->max_body_mb, "Largest upload in MiB")->capture_default_str();
  cmd->add_option("--max-seconds", a->server.max_audio_seconds, "Longest audio accepted, in seconds")->capture_default_str();
  cmd->add_option("--timeout", a->server.read_timeout_s, "Seconds for a request's headers, again for an upload's whole body, and for an answer")->capture_default_str();
  cmd->add_option("--max-uploads", a->server.max_uploads, "Uploads received at once, more get 503 (0: workers + queue + 64)")->capture_default_str();
  cmd->add_option("--max-connections", a->server.max_connections, "Connections open at once, more get 503")->capture_default_str();
  cmd->add_option("--max-connections-per-client", a->server.max_connections_per_client,
                  "Connections open at once from one client address, more get 503")
      ->capture_default_str();
  cmd->add_option("--max-upload-memory-mb", a->max_upload_memory_mb,
                  "Memory for the uploads being received, together in MiB (a chunked one counts as --max-body-mb); more get 503")
      ->capture_default_str();
  cmd->add_option("--threads", a->classifier.threads, "Model threads (0: all cores)")->capture_default_str();
  cmd->add_option("--precision", a->classifier.precision, "auto (measured once per CPU, cached), fp32, fp32-cl, bf16 or int8 (calibrated models: genrenet quantize)")->capture_default_str();
  cmd->add_option("--device", a->classifier.device, "cpu or cuda")->capture_default_str();
  cmd->add_flag("--quiet", a->quiet, "No line per request");
  cmd->add_option("--index", a->server.index, "A similarity index of this model (genrenet index build): POST /v1/similar and the page's \"sounds like\" list");
  add_confidence_flags(cmd, a->classifier);
  cmd->callback([a, &exit_code] {
    a->server.write_timeout_s = a->server.read_timeout_s;
    exit_code = run_serve(*a);
  });
}

}  // namespace genrenet::cli
