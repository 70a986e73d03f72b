// "Sounds like" search at library scale without a library: a store of N synthetic unit vectors (clustered
// like embeddings of music: a few hundred "styles", each a tight cone), indexed exactly and with IVF, then
// queried. Prints build seconds, query milliseconds and IVF recall@10 as one JSON line.
//
//   build/bench/bench_library [--rows 100000] [--dim 512] [--clusters 300] [--queries 1000] [--nprobe 8] [--out DIR]
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

}  // namespace

int main(int argc, char** argv) {
  int rows = 100000, d = 512, clusters = 300, queries = 1000, nprobe = 8;
  std::string out = "/tmp/genrenet-bench-library";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--rows") rows = std::stoi(argv[i + 1]);
    else if (a == "--dim") d = std::stoi(argv[i + 1]);
    else if (a == "--clusters") clusters = std::stoi(argv[i + 1]);
    else if (a == "--queries") queries = std::stoi(argv[i + 1]);
    else if (a == "--nprobe") nprobe = std::stoi(argv[i + 1]);
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
                              {"sha256", std::to_string(r)}, {"duration_s", 30.0}, {"windows", 1}})
                  .dump()
           << "\n";
    std::ofstream(std::filesystem::path(out) / "embeddings.json")
        << nlohmann::json({{"model", "synthetic"}, {"weights_sha256", "synthetic"}, {"size", d}, {"features", nlohmann::json::object()}})
               .dump();
  }
  nlohmann::json result = {{"rows", rows}, {"dimension", d}, {"clusters", clusters}, {"queries", queries}, {"nprobe", nprobe}};
  for (const bool ivf : {false, true}) {
    genrenet::SimilarityIndexOptions o;
    o.ivf = ivf;
    o.nprobe = nprobe;
    const genrenet::IndexBuildReport built = genrenet::SimilarityIndex::build(out, o);
    const auto t0 = std::chrono::steady_clock::now();
    const genrenet::SimilarityIndex index = genrenet::SimilarityIndex::open(out);
    const double open_s = seconds_since(t0);
    std::uniform_int_distribution<int> row(0, rows - 1);
    std::vector<float> q(static_cast<size_t>(d));
    const auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < queries; ++i) {
      const float* v = &values[static_cast<size_t>(row(rng)) * d];
      for (int j = 0; j < d; ++j) q[j] = v[j] + noise * normal(rng);  // a new song of a known style
      normalise(q.data(), d);
      if (index.search(q, 10).size() != 10) return std::fprintf(stderr, "a query found fewer than 10\n"), 1;
    }
    result[built.kind.substr(0, 3) == "ivf" ? "ivf" : "flat"] = {{"kind", built.kind},
                                                                  {"build_s", built.seconds},
                                                                  {"open_s", open_s},
                                                                  {"query_ms", 1000 * seconds_since(t1) / queries},
                                                                  {"recall_at_10", built.recall_at_10}};
  }
  std::printf("%s\n", result.dump().c_str());
  std::filesystem::remove_all(out);
  return 0;
}
