// genrenet embed: every file's embedding (Classifier::embed) into a matrix, a list and the model's identity.
#include <cstdio>

#include <genrenet/library.h>

#include "cli/commands.h"
#include "common/progress.h"
#include "common/text.h"

namespace genrenet::cli {

EmbeddingJob embedding_job(const std::string& command, const std::string& model, ClassifierOptions co,
                           const std::vector<std::string>& inputs) {
  std::vector<std::filesystem::path> files = collect_audio_files(inputs);
  if (files.empty()) throw Error(command, "no audio files found in the given paths");
  co.precision = "fp32";
  return {std::move(files), Classifier(model, co)};
}

EmbedStoreReport embed_with_progress(const EmbeddingJob& job,
                                     const std::function<EmbedStoreReport(const std::function<void(std::size_t)>&)>& work) {
  ProgressBar bar("embed", job.files.size(), job.files.size() > 8);
  const EmbedStoreReport r = work([&](size_t n) { bar.tick(n); });
  bar.finish();
  for (const auto& e : r.errors) std::fprintf(stderr, "error: %s\n", printable(e).c_str());
  return r;
}

void add_embed_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string model, out;
    std::vector<std::string> inputs;
    ClassifierOptions classifier;
    WindowOptions w;
    ClassifierFlags classifier_flags{{"threads", "batch"}};
    WindowFlags window_flags{{"window", "hop"}};
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("embed", "Each audio file's embedding (pooled network features) as .npy, resumable");
  cmd->add_option("--model,-m", a->model, "A genrenet model file (.safetensors)")->required();
  cmd->add_option("INPUT", a->inputs, "Audio files, folders (searched recursively) or @list.txt files")->required();
  cmd->add_option("--out,-o", a->out, "A folder (embeddings.npy, .jsonl, .json in it) or a FILE.npy")->required();
  a->window_flags.add_to(cmd);
  a->classifier_flags.add_to(cmd);
  cmd->callback([a, &exit_code] {
    a->classifier_flags.apply_checked(a->classifier);
    a->window_flags.apply_checked(a->w);
    a->w.validate();
    const EmbeddingJob job = embedding_job("embed", a->model, a->classifier, a->inputs);
    const EmbedStoreReport r = embed_with_progress(job, [&](const std::function<void(std::size_t)>& done) {
      return embed_into_store(job.classifier, job.files, a->out, a->w, done);
    });
    std::printf("embedded %d files (%d already there, %zu failed): %s holds %d embeddings of %d values\n", r.embedded,
                r.skipped, r.errors.size(), r.matrix.c_str(), r.rows, job.classifier.embedding_size());
    exit_code = r.errors.empty() ? 0 : 1;
  });
}

}  // namespace genrenet::cli
