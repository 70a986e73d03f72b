// Each subcommand lives in its own file and registers itself on the app; the callbacks set `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

#include <genrenet/genrenet.h>

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
void add_demo_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_experiments_command(CLI::App& app, int& exit_code);
void add_compute_commands(CLI::App& app, int& exit_code);  // quantize, tune

// The feature flags shared by every command that turns audio into spectrograms.
struct FeatureFlags {
  std::string config_file;  // a JSON FeatureOptions, applied first; flags given explicitly override it
  FeatureOptions opts;
  std::string mel_scale = "htk", mel_norm = "none", quality = "high", resampler = "polyphase", crop = "center",
              pad = "zero";
  double top_db = 0;
  bool no_quantize = false;
  void add_to(CLI::App* cmd);
  // The options: `base` (or the --feature-config file), then the flags the user typed. Throws Error.
  FeatureOptions resolve(const CLI::App* cmd, const FeatureOptions& base = {}) const;
};

int default_threads();

// Ctrl-C and SIGTERM during training: the first sets g_stop_training (the run stops cleanly after the
// current batch, its last checkpoint kept); the second has the default action (exit now). Used by every
// command that trains (train, experiments).
void stop_training_on_signals();

}  // namespace genrenet::cli
