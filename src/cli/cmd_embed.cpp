// genrenet embed: every file's embedding (Classifier::embed) into a matrix, a list and the model's identity.
#include <cstdio>

#include <genrenet/library.h>

#include "cli/commands.h"
#include "common/progress.h"
#include "common/text.h"

namespace genrenet::cli {

void add_shard_option(CLI::App* cmd, std::string& typed) {
  cmd->add_option("--shard", typed,
                  "This process's part K/N of the files (K from 0; default: SLURM_ARRAY_TASK_ID or torchrun's RANK "
                  "when set; docs/LIBRARY.md)");
}

std::vector<std::filesystem::path> files_of_this_shard(const std::string& command, const std::vector<std::string>& inputs,
                                                       const Shard& shard) {
  const std::vector<std::filesystem::path> all = collect_audio_files(inputs);
  if (all.empty()) throw Error(command, "no audio files found in the given paths");
  std::vector<std::filesystem::path> mine = files_of_shard(all, shard);
  if (!shard.whole())
    std::fprintf(stderr, "shard %d/%d (%s): %zu of %zu files\n", shard.index, shard.count, shard.source.c_str(), mine.size(),
                 all.size());
  return mine;
}

std::filesystem::path shard_output(const std::filesystem::path& out, const Shard& shard) {
  if (shard.whole()) return out;
  if (out.extension() == ".npy") throw Error("--out", "a shard writes into a folder (<out>/" + shard.name() + "), not a .npy file");
  return out / shard.name();
}

EmbeddingJob embedding_job(const std::string& command, const std::string& model, const ClassifierOptions& co,
                           const std::vector<std::string>& inputs, const std::string& typed_shard) {
  const Shard shard = resolve_shard(typed_shard);
  std::vector<std::filesystem::path> files = files_of_this_shard(command, inputs, shard);
  return {std::move(files), Classifier::for_embeddings(model, co), shard};
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
    std::string model, out, shard;
    std::vector<std::string> inputs;
    int group = 64;
    ClassifierOptions classifier;
    WindowOptions w;
    ClassifierFlags classifier_flags{{"threads", "batch"}};
    WindowFlags window_flags{{"window", "hop"}};
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("embed", "Each audio file's embedding (pooled network features) as .npy, resumable");
  cmd->add_option("--model,-m", a->model, "A genrenet model file (.safetensors)")->required();
  cmd->add_option("INPUT", a->inputs, "Audio files, folders (searched recursively) or @list.txt files")->required();
  cmd->add_option("--out,-o", a->out, "A folder (embeddings.npy, .jsonl, .json in it) or a FILE.npy; a shard's: <out>/shard-K-of-N")
      ->required();
  add_shard_option(cmd, a->shard);
  cmd->add_option("--group", a->group, "Files embedded between the store's atomic rewrites (a kill loses at most these)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  a->window_flags.add_to(cmd);
  a->classifier_flags.add_to(cmd);
  cmd->callback([a, &exit_code] {
    a->classifier_flags.apply_checked(a->classifier);
    a->window_flags.apply_checked(a->w);
    a->w.validate();
    const EmbeddingJob job = embedding_job("embed", a->model, a->classifier, a->inputs, a->shard);
    const EmbedStoreReport r = embed_with_progress(job, [&](const std::function<void(std::size_t)>& done) {
      return embed_into_store(job.classifier, job.files, shard_output(a->out, job.shard), a->w, done, a->group);
    });
    std::printf("embedded %d files (%d already there, %zu failed): %s holds %d embeddings of %d values\n", r.embedded,
                r.skipped, r.errors.size(), r.matrix.c_str(), r.rows, job.classifier.embedding_size());
    exit_code = r.errors.empty() ? 0 : 1;
  });
}

}  // namespace genrenet::cli
