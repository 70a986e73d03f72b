// genrenet index build | add, genrenet similar: a library's embeddings in a FAISS index, and "sounds like".
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include <genrenet/classifier.h>
#include <genrenet/library.h>

#include "cli/commands.h"
#include "common/sha256.h"
#include "common/text.h"
#include "io/atomic_file.h"
#include "library/neighbours_json.h"

namespace genrenet::cli {
namespace {

struct IndexArgs {
  std::string model, index, shard;
  std::vector<std::string> inputs;
  SimilarityIndexOptions options;
  WindowOptions w;
  OptionFlags<SimilarityIndexOptions> index_flags{similarity_index_options_table()};
  WindowFlags window_flags{{"window", "hop"}};
  ClassifierFlags classifier_flags{{"threads"}};
};

void print_index_report(const IndexBuildReport& r) {
  std::printf("index %s of %d embeddings (%d values, %.0f bytes each) in %.2f s", r.kind.c_str(), r.rows, r.dimension,
              r.bytes_per_vector, r.seconds);
  if (r.kind != "flat") std::printf("; recall@10 against the exact index %.3f", r.recall_at_10);
  std::printf("\n");
}

// build: the options given (a new folder, or an existing one rebuilt that way); add: the index's own model,
// windows and options (SimilarityIndex::add keeps them).
int embed_and_build(IndexArgs& a, bool adding) {
  IndexAddOptions how;
  if (!adding) {
    a.index_flags.apply_checked(a.options);
    a.window_flags.apply_checked(a.w);
    a.w.validate();
    how.index = a.options;
    how.windows = a.w;
  }
  ClassifierOptions co;
  a.classifier_flags.apply_checked(co);
  const EmbeddingJob job =
      embedding_job("index", adding ? SimilarityIndex::open(a.index).model_file() : a.model, co, a.inputs, a.shard);
  IndexBuildReport r;
  const EmbedStoreReport e = embed_with_progress(job, [&](const std::function<void(std::size_t)>& done) {
    const IndexAddReport added = SimilarityIndex::add(job.classifier, shard_output(a.index, job.shard), job.files, how, done);
    r = added.index;
    return added.embedded;
  });
  std::printf("embedded %d files (%d already there, %zu failed); ", e.embedded, e.skipped, e.errors.size());
  print_index_report(r);
  return e.errors.empty() ? 0 : 1;
}

struct SimilarArgs {
  std::string index, model, format = "table";
  std::vector<std::string> queries;
  int k = 10;
  ClassifierFlags classifier_flags{{"threads"}};
};

void print_neighbours(const std::filesystem::path& query, const std::vector<Neighbour>& found, const std::string& format) {
  if (format == "jsonl") {
    std::printf("%s\n", nlohmann::json({{"query", utf8_safe(query.string())}, {"neighbours", neighbours_json(found)}}).dump().c_str());
  } else if (format == "m3u") {
    for (auto& f : found)
      std::printf("#EXTINF:%d,%s\n%s\n", static_cast<int>(f.duration_seconds + 0.5),
                  printable(std::filesystem::path(f.file).stem().string()).c_str(), printable(f.file).c_str());
  } else {
    std::printf("%s\n", printable(query.string()).c_str());
    for (size_t i = 0; i < found.size(); ++i)
      std::printf("  %2zu  %6.3f  %s\n", i + 1, found[i].similarity, printable(found[i].file).c_str());
  }
}

int run_similar(const SimilarArgs& a) {
  const SimilarityIndex index = SimilarityIndex::open(a.index);
  // The model is loaded only for a query the index does not hold (a file already in it, by content, is
  // answered from its stored embedding), or at once when one is named, to check it against the index.
  std::optional<Classifier> clf;
  auto classifier = [&]() -> const Classifier& {
    if (!clf) {
      ClassifierOptions co;
      a.classifier_flags.apply_checked(co);
      clf.emplace(Classifier::for_embeddings(a.model.empty() ? index.model_file() : a.model, co));
      index.check_compatible(*clf);
    }
    return *clf;
  };
  if (!a.model.empty()) classifier();
  if (a.format == "m3u") std::printf("#EXTM3U\n");
  int failed = 0;
  for (const std::filesystem::path q : collect_audio_files(a.queries)) {
    std::vector<Neighbour> found;
    try {
      // query_file looks the file's content up before embedding it; without --model only that lookup answers.
      const int row = a.model.empty() ? index.find_row(sha256_file(q)) : -1;
      found = row >= 0 ? index.search_like_row(row, a.k) : index.query_file(classifier(), q, a.k);
    } catch (const Error& e) {
      ++failed;
      std::fprintf(stderr, "error: %s\n", printable(e.what()).c_str());
      continue;
    }
    print_neighbours(q, found, a.format);
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
  add_shard_option(build, a->shard);
  a->index_flags.add_to(build);
  a->window_flags.add_to(build);
  a->classifier_flags.add_to(build);
  build->callback([a, &exit_code] { exit_code = embed_and_build(*a, false); });
  auto* add = index->add_subcommand("add", "Embed more audio files into an index (its model and options) and rebuild it");
  auto added = std::make_shared<IndexArgs>();  // its own flags: one OptionFlags serves one command
  add->add_option("--index,-i", added->index, "The index folder")->required();
  add->add_option("INPUT", added->inputs, "Audio files, folders (searched recursively) or @list.txt files")->required();
  added->classifier_flags.add_to(add);
  add->callback([added, &exit_code] { exit_code = embed_and_build(*added, true); });

  struct MergeArgs {
    std::vector<std::string> stores;
    std::string out;
    SimilarityIndexOptions options;
    OptionFlags<SimilarityIndexOptions> index_flags{similarity_index_options_table()};
  };
  auto m = std::make_shared<MergeArgs>();
  auto* merge = index->add_subcommand("merge", "Join the stores of a catalogue's shards (embed/index build --shard) into one index");
  merge->add_option("STORE", m->stores, "Shard stores or indexes, or a folder holding shard-* folders")->required();
  merge->add_option("--out,-o", m->out, "The index folder made (its store replaced by the merged rows)")->required();
  m->index_flags.add_to(merge);
  merge->callback([m, &exit_code] {
    m->index_flags.apply_checked(m->options);
    const IndexBuildReport r =
        SimilarityIndex::merge(std::vector<std::filesystem::path>(m->stores.begin(), m->stores.end()), m->out, m->options);
    std::printf("merged %zu inputs; ", m->stores.size());
    print_index_report(r);
    exit_code = 0;
  });

  struct MapArgs {
    std::string index, png, json;
    LibraryMapOptions options;
    OptionFlags<LibraryMapOptions> map_flags{library_map_options_table()};
  };
  auto mp = std::make_shared<MapArgs>();
  auto* map = index->add_subcommand("map", "A picture of the library: its embeddings in 2-D, coloured by genre (PNG, JSON)");
  map->add_option("INDEX", mp->index, "The index folder")->required();
  map->add_option("--out,-o", mp->png, "The PNG written")->required();
  map->add_option("--json", mp->json, "Also the points as JSON (x, y, row, file, genre)");
  mp->map_flags.add_to(map);
  map->callback([mp, &exit_code] {
    mp->map_flags.apply_checked(mp->options);
    const LibraryMap m = map_library(SimilarityIndex::open(mp->index), mp->options);
    m.save_png(mp->png);
    if (!mp->json.empty()) io::write_file_atomically(mp->json, m.to_json());
    std::printf("%zu of %d files in %zu genres (%s), %.0f%% of the variance on the two axes: wrote %s\n", m.points.size(),
                m.rows, m.genres.size(), mp->options.by.c_str(), 100 * m.explained, mp->png.c_str());
    exit_code = 0;
  });

  auto s = std::make_shared<SimilarArgs>();
  auto* similar = app.add_subcommand("similar", "The library's files that sound most like each query file");
  similar->add_option("--index,-i", s->index, "An index folder (genrenet index build)")->required();
  similar->add_option("QUERY", s->queries, "Audio files, folders or @lists to find neighbours of")->required();
  similar->add_option("--k", s->k, "Neighbours per query")->capture_default_str()->check(CLI::Range(1, 10000));
  similar->add_option("--format", s->format, "table, jsonl or m3u (a playlist)")->capture_default_str()
      ->check(CLI::IsMember({"table", "jsonl", "m3u"}));
  similar->add_option("--model,-m", s->model, "The model to embed queries with (default: the index's; must be the same)");
  s->classifier_flags.add_to(similar);
  similar->callback([s, &exit_code] { exit_code = run_similar(*s); });
}

}  // namespace genrenet::cli
