// "Sounds like" search at library scale without a library: a store of N synthetic unit vectors (clustered
// like embeddings of music: a few hundred "styles", each a tight cone), indexed exactly and with IVF, then
// queried. Prints build seconds, query milliseconds, bytes per vector and recall@10 of IVF and IVF-PQ as one
// JSON line, with the CPU.
//
//   build/bench/bench_library [--rows 100000] [--dim 512] [--clusters 300] [--queries 1000] [--nprobe 8]
//                             [--pq 64] [--rerank 50] [--flat-queries 1000] [--kinds flat,ivf,ivf-pq] [--out DIR]
#include <malloc.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include <genrenet/genrenet.h>
#include <genrenet/library.h>

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void normalise(float* v, int d) {
  double n = 0;
  for (int i = 0; i < d; ++i) n += static_cast<double>(v[i]) * v[i];
  const float s = static_cast<float>(1 / std::sqrt(n));
  for (int i = 0; i < d; ++i) v[i] *= s;
}

// A content hash for a synthetic row (64 hex digits, as a store holds).
std::string fake_sha256(int row) {
  char hex[65];
  std::snprintf(hex, sizeof hex, "%064x", row);
  return hex;
}

double resident_mib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024;  // kB
  return 0;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, name, family, model;
  while (std::getline(in, line)) {
    auto value = [&] { return line.substr(line.find(':') + 2); };
    if (name.empty() && line.rfind("model name", 0) == 0) name = value();
    if (family.empty() && line.rfind("cpu family", 0) == 0) family = value();
    if (model.empty() && line.rfind("model\t", 0) == 0) model = value();
  }
  return name + " (family " + family + " model " + model + ")";
}

}  // namespace

int main(int argc, char** argv) {
  int rows = 100000, d = 512, clusters = 300, queries = 1000, nprobe = 8, pq = 64, flat_queries = 1000, rerank = 50;
  std::string kinds = "flat,ivf,ivf-pq";
  std::string out = "/tmp/genrenet-bench-library";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--rows") rows = std::stoi(argv[i + 1]);
    else if (a == "--dim") d = std::stoi(argv[i + 1]);
    else if (a == "--clusters") clusters = std::stoi(argv[i + 1]);
    else if (a == "--queries") queries = std::stoi(argv[i + 1]);
    else if (a == "--nprobe") nprobe = std::stoi(argv[i + 1]);
    else if (a == "--pq") pq = std::stoi(argv[i + 1]);
    else if (a == "--flat-queries") flat_queries = std::stoi(argv[i + 1]);
    else if (a == "--rerank") rerank = std::stoi(argv[i + 1]);
    else if (a == "--kinds") kinds = argv[i + 1];  // which of flat, ivf, ivf-pq  // exact queries scan every row: fewer at 1M
    else if (a == "--out") out = argv[i + 1];
    else return std::fprintf(stderr, "unknown option %s\n", a.c_str()), 2;
  }
  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> centres(static_cast<size_t>(clusters) * d), values(static_cast<size_t>(rows) * d);
  for (auto& v : centres) v = normal(rng);
  for (int c = 0; c < clusters; ++c) normalise(&centres[static_cast<size_t>(c) * d], d);
  std::uniform_int_distribution<int> pick(0, clusters - 1);
  // Each row: its centre plus noise of the same total size (cosine to the centre about 0.7, as same-genre
  // embeddings of the trained model are to their genre's mean).
  const float noise = static_cast<float>(1 / std::sqrt(static_cast<double>(d)));
  for (int r = 0; r < rows; ++r) {
    const float* c = &centres[static_cast<size_t>(pick(rng)) * d];
    float* v = &values[static_cast<size_t>(r) * d];
    for (int i = 0; i < d; ++i) v[i] = c[i] + noise * normal(rng);
    normalise(v, d);
  }
  // The store embed_into_store writes: a matrix, its list and what made it.
  genrenet::write_npy(std::filesystem::path(out) / "embeddings.npy", values, {rows, d});
  {
    std::ofstream list(std::filesystem::path(out) / "embeddings.jsonl");
    for (int r = 0; r < rows; ++r)
      list << nlohmann::json({{"row", r}, {"file", "synthetic/" + std::to_string(r) + ".flac"},
                              {"sha256", fake_sha256(r)}, {"duration_s", 30.0}, {"windows", 1}})
                  .dump()
           << "\n";
    std::ofstream(std::filesystem::path(out) / "embeddings.json")
        << nlohmann::json({{"model", "synthetic"},
                           {"weights_sha256", "synthetic"},
                           {"size", d},
                           {"features", nlohmann::json::object()},
                           {"windows", {{"windows", true}, {"window_s", 8.192}, {"hop_s", 4.096}}}})
               .dump();
  }
  nlohmann::json result = {{"cpu", cpu_model()}, {"rows", rows},     {"dimension", d}, {"clusters", clusters},
                           {"queries", queries}, {"nprobe", nprobe}, {"pq", pq},     {"rerank", rerank}};
  for (const char* kind : {"flat", "ivf", "ivf-pq"}) {
    if (("," + kinds + ",").find(std::string(",") + kind + ",") == std::string::npos) continue;
    genrenet::SimilarityIndexOptions o;
    o.rerank = rerank;
    o.ivf = kind != std::string("flat");
    o.pq = kind == std::string("ivf-pq") ? pq : 0;
    o.nprobe = nprobe;
    const int n_queries = o.ivf ? queries : flat_queries;
    const genrenet::IndexBuildReport built = genrenet::SimilarityIndex::build(out, o);
    malloc_trim(0);  // what earlier steps freed goes back to the system, so the difference is the index's
    const double rss_before = resident_mib();
    const auto t0 = std::chrono::steady_clock::now();
    const genrenet::SimilarityIndex index = genrenet::SimilarityIndex::open(out);
    const double open_s = seconds_since(t0);
    const double held_mib = resident_mib() - rss_before;  // what the opened index holds: its vectors or codes, and the list
    std::uniform_int_distribution<int> row(0, rows - 1);
    std::vector<float> q(static_cast<size_t>(d));
    const auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < n_queries; ++i) {
      const float* v = &values[static_cast<size_t>(row(rng)) * d];
      for (int j = 0; j < d; ++j) q[j] = v[j] + noise * normal(rng);  // a new song of a known style
      normalise(q.data(), d);
      if (index.search(q, 10).size() != 10) return std::fprintf(stderr, "a query found fewer than 10\n"), 1;
    }
    result[kind] = {{"kind", built.kind},
                    {"build_s", built.seconds},
                    {"open_s", open_s},
                    {"query_ms", 1000 * seconds_since(t1) / n_queries},
                    {"bytes_per_vector", built.bytes_per_vector},
                    {"opened_mib", held_mib},
                    {"opened_bytes_per_row", held_mib * 1048576.0 / rows},
                    {"recall_at_10", built.recall_at_10}};
    std::fprintf(stderr, "%s: %s\n", kind, result[kind].dump().c_str());
  }
  std::printf("%s\n", result.dump().c_str());
  std::filesystem::remove_all(out);
  return 0;
}
