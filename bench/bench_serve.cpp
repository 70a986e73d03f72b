// Load test of `genrenet serve` on loopback: C clients post one audio file R times in all; requests per
// second, latency percentiles and failures, as JSON. Bounded in count (--requests) and time (--max-seconds).
//   bench_serve --port 8080 --file clip.wav --clients 4 --requests 200
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", file, query;
  int port = 8080, clients = 4, requests = 200;
  double max_seconds = 300;
  CLI::App app("Load test of genrenet serve");
  app.add_option("--host", host)->capture_default_str();
  app.add_option("--port", port)->capture_default_str();
  app.add_option("--file", file, "Audio file to post")->required()->check(CLI::ExistingFile);
  app.add_option("--query", query, "Query string of /v1/classify, e.g. top=3")->capture_default_str();
  app.add_option("--clients", clients, "Concurrent clients")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--requests", requests, "Requests in all")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--max-seconds", max_seconds, "Stop sending after this long")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(file, std::ios::binary);
  const std::string body((std::istreambuf_iterator<char>(in)), {});
  std::atomic<int> next = 0, failed = 0, busy = 0;
  std::mutex m;
  std::vector<double> latencies;
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(max_seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&] {
      httplib::Client client(host, port);
      client.set_read_timeout(120, 0);
      client.set_keep_alive(true);
      while (next++ < requests && clock::now() < deadline) {
        const auto s = clock::now();
        auto r = client.Post(("/v1/classify" + (query.empty() ? "" : "?" + query)).c_str(), body, "application/octet-stream");
        const double ms = std::chrono::duration<double, std::milli>(clock::now() - s).count();
        if (!r || r->status != 200) {
          (r && r->status == 503 ? busy : failed)++;
          if (r && r->status != 503) std::fprintf(stderr, "status %d: %s\n", r->status, r->body.c_str());
          continue;
        }
        std::lock_guard lock(m);
        latencies.push_back(ms);
      }
    });
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(clock::now() - t0).count();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty() ? 0.0 : latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * latencies.size()))];
  };
  nlohmann::json j = {{"clients", clients},     {"ok", latencies.size()}, {"failed", failed.load()},
                      {"busy_503", busy.load()}, {"seconds", wall},
                      {"requests_per_s", latencies.size() / wall},
                      {"latency_ms", {{"p50", pct(0.5)}, {"p90", pct(0.9)}, {"p99", pct(0.99)},
                                      {"max", latencies.empty() ? 0 : latencies.back()}}}};
  std::printf("%s\n", j.dump().c_str());
  return failed ? 1 : 0;
}
