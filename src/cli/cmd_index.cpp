// genrenet index build | add, genrenet similar: a library's embeddings in a FAISS index, and "sounds like".
#include <cstdio>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>
#include <genrenet/library.h>

#include "cli/commands.h"
#include "common/sha256.h"
#include "common/text.h"
#include "eval/embedding_store.h"
#include "io/atomic_file.h"
#include "library/neighbours_json.h"

namespace genrenet::cli {
namespace {

struct IndexArgs {
  std::string model, index;
  std::vector<std::string> inputs;
  SimilarityIndexOptions options;
  WindowOptions w;
  int threads = 0;
};

// The options an index was built with (index.json), so that `index add` rebuilds it the same way.
std::filesystem::path options_file(const std::string& index) { return std::filesystem::path(index) / "index.json"; }

int embed_and_build(IndexArgs& a, bool adding) {
  if (adding) {
    const SimilarityIndex existing = SimilarityIndex::open(a.index);
    a.model = existing.model_file();
    try {
      const auto o = nlohmann::json::parse(io::read_text_file(options_file(a.index)));
      a.options = {o.at("ivf").get<bool>(), o.at("nlist").get<int>(), o.at("nprobe").get<int>()};
      if (a.options.nlist < 0 || a.options.nprobe < 1) throw std::invalid_argument("nlist or nprobe out of range");
    } catch (const std::exception& e) {
      throw Error(options_file(a.index).string(), std::string("damaged (") + e.what() + "): build the index again with genrenet index build");
    }
    a.w = embedding_store_windows(embedding_store_files(a.index, false));
  }
  ClassifierOptions co;
  co.threads = a.threads;
  const EmbedStoreReport e = embed_inputs("index", a.model, co, a.inputs, a.index, a.w).report;
  const IndexBuildReport r = SimilarityIndex::build(a.index, a.options);
  io::write_file_atomically(options_file(a.index),
                            nlohmann::json({{"ivf", a.options.ivf}, {"nlist", a.options.nlist}, {"nprobe", a.options.nprobe}}).dump(1));
  std::printf("embedded %d files (%d already there, %zu failed); index %s of %d embeddings (%d values) in %.2f s",
              e.embedded, e.skipped, e.errors.size(), r.kind.c_str(), r.rows, r.dimension, r.seconds);
  if (a.options.ivf) std::printf("; recall@10 against the exact index %.3f", r.recall_at_10);
  std::printf("\n");
  return e.errors.empty() ? 0 : 1;
}

struct SimilarArgs {
  std::string index, model, format = "table";
  std::vector<std::string> queries;
  int k = 10, threads = 0;
};

int run_similar(const SimilarArgs& a) {
  const SimilarityIndex index = SimilarityIndex::open(a.index);
  const std::string model = a.model.empty() ? index.model_file() : a.model;
  // A query embedded by another network lands in another space: refused rather than answered with noise.
  auto check_model = [&] {
    if (weights_sha256(model) != index.weights_sha256())
      throw Error(model, "is not the model whose embeddings " + a.index + " holds (" + index.model_file() +
                             "): a query must be embedded by the same model");
  };
  if (!a.model.empty()) check_model();
  // The model is loaded only for a query the index does not hold: a file already in it (by content) is
  // answered from its stored embedding.
  std::optional<Classifier> clf;
  const WindowOptions windows = index.windows();
  auto embed = [&](const std::filesystem::path& q) {
    if (!clf) {
      check_model();
      ClassifierOptions co;
      co.precision = "fp32";
      co.threads = a.threads;
      clf.emplace(model, co);
      if (nlohmann::json::parse(clf->features().to_json()).dump() != index.features_json())
        throw Error(model, "its feature options differ from those the index was made with");
    }
    return clf->embed_file(q, windows).values;
  };
  if (a.format == "m3u") std::printf("#EXTM3U\n");
  int failed = 0;
  for (const std::filesystem::path q : collect_audio_files(a.queries)) {
    std::vector<Neighbour> found;
    try {
      const std::string sha = sha256_file(q);
      const int row = index.find_row(sha);
      found = row >= 0 ? index.search_like_row(row, a.k) : index.search(embed(q), a.k, sha);
    } catch (const Error& e) {
      ++failed;
      std::fprintf(stderr, "error: %s\n", printable(e.what()).c_str());
      continue;
    }
    if (a.format == "jsonl") {
      std::printf("%s\n", nlohmann::json({{"query", utf8_safe(q.string())}, {"neighbours", neighbours_json(found)}}).dump().c_str());
    } else if (a.format == "m3u") {
      for (auto& f : found)
        std::printf("#EXTINF:%d,%s\n%s\n", static_cast<int>(f.duration_seconds + 0.5),
                    printable(std::filesystem::path(f.file).stem().string()).c_str(), printable(f.file).c_str());
    } else {
      std::printf("%s\n", printable(q.string()).c_str());
      for (size_t i = 0; i < found.size(); ++i)
        std::printf("  %2zu  %6.3f  %s\n", i + 1, found[i].similarity, printable(found[i].file).c_str());
    }
  }
  return failed ? 1 : 0;
}

}  // namespace

void add_index_commands(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<IndexArgs>();
  auto* index = app.add_subcommand("index", "A music library's embeddings in a FAISS index (then: genrenet similar)");
  index->require_subcommand(1);
  auto* build = index->add_subcommand("build", "Embed audio files into INDEX (new ones only) and build its index");
  build->add_option("--model,-m", a->model, "A genrenet model file (.safetensors)")->required();
  build->add_option("--out,-o", a->index, "The index folder (created; an existing one of the same model grows)")->required();
  build->add_option("INPUT", a->inputs, "Audio files, folders (searched recursively) or @list.txt files")->required();
  build->add_flag("--ivf", a->options.ivf, "An IVF index (approximate, for large libraries); its recall@10 is printed");
  build->add_option("--nlist", a->options.nlist, "IVF cells (0: about sqrt(files))")->capture_default_str();
  build->add_option("--nprobe", a->options.nprobe, "IVF cells searched per query")->capture_default_str();
  build->add_option("--window", a->w.window_seconds, "Window length in seconds")->capture_default_str();
  build->add_option("--hop", a->w.hop_seconds, "Seconds between window starts")->capture_default_str();
  build->add_option("--threads", a->threads, "Threads (0: all cores)")->capture_default_str();
  build->callback([a, &exit_code] { exit_code = embed_and_build(*a, false); });
  auto* add = index->add_subcommand("add", "Embed more audio files into an index (its model and options) and rebuild it");
  add->add_option("--index,-i", a->index, "The index folder")->required();
  add->add_option("INPUT", a->inputs, "Audio files, folders (searched recursively) or @list.txt files")->required();
  add->add_option("--threads", a->threads, "Threads (0: all cores)")->capture_default_str();
  add->callback([a, &exit_code] { exit_code = embed_and_build(*a, true); });

  auto s = std::make_shared<SimilarArgs>();
  auto* similar = app.add_subcommand("similar", "The library's files that sound most like each query file");
  similar->add_option("--index,-i", s->index, "An index folder (genrenet index build)")->required();
  similar->add_option("QUERY", s->queries, "Audio files, folders or @lists to find neighbours of")->required();
  similar->add_option("--k", s->k, "Neighbours per query")->capture_default_str()->check(CLI::Range(1, 10000));
  similar->add_option("--format", s->format, "table, jsonl or m3u (a playlist)")->capture_default_str()
      ->check(CLI::IsMember({"table", "jsonl", "m3u"}));
  similar->add_option("--model,-m", s->model, "The model to embed queries with (default: the index's; must be the same)");
  similar->add_option("--threads", s->threads, "Threads (0: all cores)")->capture_default_str();
  similar->callback([s, &exit_code] { exit_code = run_similar(*s); });
}

}  // namespace genrenet::cli
