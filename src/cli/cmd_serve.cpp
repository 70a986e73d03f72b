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
  ClassifierFlags classifier_flags;
  OptionFlags<ServerOptions> server_flags{server_options_table()};
};

int run_serve(ServeArgs& a) {
  a.classifier_flags.apply_checked(a.classifier);
  a.server_flags.apply_checked(a.server);
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
  a->server_flags.add_to(cmd);
  a->classifier_flags.add_to(cmd);
  cmd->callback([a, &exit_code] { exit_code = run_serve(*a); });
}

}  // namespace genrenet::cli
