// Each subcommand lives in its own file and registers itself on the app; the callbacks set `exit_code`.
#pragma once

#include <atomic>

#include <CLI/CLI.hpp>

#include <genrenet/library.h>
#include <genrenet/genrenet.h>

#include "cli/option_flags.h"
#include "common/option_tables.h"

namespace genrenet::cli {

void add_features_command(CLI::App& app, int& exit_code);
void add_show_command(CLI::App& app, int& exit_code);
void add_example_clip_command(CLI::App& app, int& exit_code);
void add_weights_command(CLI::App& app, int& exit_code);
void add_synth_command(CLI::App& app, int& exit_code);
void add_prepare_command(CLI::App& app, int& exit_code);
void add_augment_preview_command(CLI::App& app, int& exit_code);
void add_train_command(CLI::App& app, int& exit_code);
void add_evaluate_command(CLI::App& app, int& exit_code);
void add_predict_command(CLI::App& app, int& exit_code);
void add_explain_command(CLI::App& app, int& exit_code);
void add_demo_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_experiments_command(CLI::App& app, int& exit_code);
void add_compute_commands(CLI::App& app, int& exit_code);  // quantize, tune
void add_calibrate_command(CLI::App& app, int& exit_code);
void add_embed_command(CLI::App& app, int& exit_code);
// What `embed` and `index build|add` share: the audio files of `inputs` (files, folders, @lists; `command`
// names the command when there are none), the model loaded for embeddings (fp32: the fastest inference net
// is not needed), and `work` (embedding the files into a store) run with a progress bar, each unreadable
// file printed as an error line.
struct EmbeddingJob {
  std::vector<std::filesystem::path> files;  // this shard's
  Classifier classifier;
  Shard shard;
};
EmbeddingJob embedding_job(const std::string& command, const std::string& model, const ClassifierOptions& options,
                           const std::vector<std::string>& inputs, const std::string& shard = {});

// --shard K/N on a command that goes over a catalogue (without it: Slurm's or torchrun's variables).
void add_shard_option(CLI::App* cmd, std::string& typed);
// The files of this process's part of `inputs` (resolve_shard, files_of_shard), said on stderr when a part;
// Error naming `command` when there are none at all.
std::vector<std::filesystem::path> files_of_this_shard(const std::string& command, const std::vector<std::string>& inputs,
                                                       const Shard& shard);
// Where a shard writes its store: <out>/shard-K-of-N (out itself for the whole); out must be a folder.
std::filesystem::path shard_output(const std::filesystem::path& out, const Shard& shard);
EmbedStoreReport embed_with_progress(const EmbeddingJob& job,
                                     const std::function<EmbedStoreReport(const std::function<void(std::size_t)>&)>& work);
void add_index_commands(CLI::App& app, int& exit_code);  // index build|add, similar
void add_tag_command(CLI::App& app, int& exit_code);

// The feature flags shared by every command that turns audio into spectrograms: --feature-config and one
// flag per feature option (made from its declaration, src/features/options.cpp).
struct FeatureFlags {
  std::string config_file;  // a JSON FeatureOptions, applied first; flags given explicitly override it
  OptionFlags<FeatureOptions> flags{feature_options_table()};
  void add_to(CLI::App* cmd);
  // The options: `base` (or the --feature-config file), then the flags the user typed, validated. Throws Error.
  FeatureOptions resolve(const FeatureOptions& base = {}) const;
};

// A JSON file of feature options (--feature-config); an Error names the file.
FeatureOptions read_feature_config(const std::string& file);

// The runtime's flags, each made from its option table's row (src/common/option_tables.h): a command offers
// `only` the keys it uses (all when empty), and applies what was typed over its options after parsing.
struct ClassifierFlags : OptionFlags<ClassifierOptions> {
  explicit ClassifierFlags(std::vector<std::string> only = {}) : OptionFlags(classifier_options_table(), std::move(only)) {}
};
struct WindowFlags : OptionFlags<WindowOptions> {
  explicit WindowFlags(std::vector<std::string> only = {}) : OptionFlags(window_options_table(), std::move(only)) {}
};

int default_threads();


}  // namespace genrenet::cli
