// genrenet embed: every file's embedding (Classifier::embed) into a matrix, a list and the model's identity.
#include <cstdio>

#include <genrenet/classifier.h>

#include "cli/commands.h"
#include "common/progress.h"
#include "common/text.h"

namespace genrenet::cli {

EmbeddedInputs embed_inputs(const std::string& command, const std::string& model, ClassifierOptions co,
                            const std::vector<std::string>& inputs, const std::filesystem::path& out, const WindowOptions& w) {
  w.validate();
  const std::vector<std::filesystem::path> files = collect_audio_files(inputs);
  if (files.empty()) throw Error(command, "no audio files found in the given paths");
  // The embeddings are computed in fp32 whatever the precision; the fastest inference net is not needed.
  co.precision = "fp32";
  const Classifier clf(model, co);
  ProgressBar bar("embed", files.size(), files.size() > 8);
  EmbeddedInputs r{embed_into_store(clf, model, files, out, w, [&](size_t n) { bar.tick(n); }), clf.embedding_size()};
  bar.finish();
  for (const auto& e : r.report.errors) std::fprintf(stderr, "error: %s\n", printable(e).c_str());
  return r;
}

void add_embed_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string model, out;
    std::vector<std::string> inputs;
    ClassifierOptions classifier;
    WindowOptions w;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("embed", "Each audio file's embedding (pooled network features) as .npy, resumable");
  cmd->add_option("--model,-m", a->model, "A genrenet model file (.safetensors)")->required();
  cmd->add_option("INPUT", a->inputs, "Audio files, folders (searched recursively) or @list.txt files")->required();
  cmd->add_option("--out,-o", a->out, "A folder (embeddings.npy, .jsonl, .json in it) or a FILE.npy")->required();
  cmd->add_option("--window", a->w.window_seconds, "Window length in seconds")->capture_default_str();
  cmd->add_option("--hop", a->w.hop_seconds, "Seconds between window starts")->capture_default_str();
  cmd->add_option("--threads", a->classifier.threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_option("--batch", a->classifier.batch, "Windows per model call")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->callback([a, &exit_code] {
    const EmbeddedInputs e = embed_inputs("embed", a->model, a->classifier, a->inputs, a->out, a->w);
    const EmbedStoreReport& r = e.report;
    std::printf("embedded %d files (%d already there, %zu failed): %s holds %d embeddings of %d values\n", r.embedded,
                r.skipped, r.errors.size(), r.matrix.c_str(), r.rows, e.size);
    exit_code = r.errors.empty() ? 0 : 1;
  });
}

}  // namespace genrenet::cli
