// Each subcommand lives in its own file and registers itself on the app; the callbacks set `exit_code`.
#pragma once

#include <atomic>

#include <CLI/CLI.hpp>

#include <genrenet/classifier.h>
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
// What `embed` and `index build|add` share: `inputs` (files, folders, @lists) embedded into the store `out`
// in fp32 with a progress bar, each unreadable file printed as an error line.
struct EmbeddedInputs {
  EmbedStoreReport report;
  int size = 0;  // values per embedding
};
// `command` names the command in the error for inputs without audio files.
EmbeddedInputs embed_inputs(const std::string& command, const std::string& model, ClassifierOptions options,
                            const std::vector<std::string>& inputs, const std::filesystem::path& out, const WindowOptions& w);
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

// The flags of the answer's trust, shared by predict and serve: --no-calibration, --min-confidence P and
// --reject-ood (UnknownOptions, genrenet/classifier.h).
void add_confidence_flags(CLI::App* cmd, ClassifierOptions& options);

int default_threads();

// Ctrl-C and SIGTERM during training: the first sets the returned flag, which the command passes to the
// training (RunControl::stop: the run stops cleanly after the current batch, its last checkpoint kept); the
// second has the default action (exit now). Used by every command that trains (train, experiments, demo),
// and by tag (the run ends after the file in hand).
const std::atomic<bool>* stop_training_on_signals();

}  // namespace genrenet::cli
