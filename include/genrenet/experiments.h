// genrenet's experiments: the paper's results table from a folder of training configs, each run for several
// seeds (src/train/experiments.cpp; docs/EXPERIMENTS.md).
#pragma once

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include <genrenet/train.h>

namespace genrenet {

// ---------------------------------------------------------------------------------------------------------
// Experiments (src/train/experiments.cpp)
// ---------------------------------------------------------------------------------------------------------

// One row of a results table: a training config (.toml or .json) with an [experiment] table saying what
// the paper reports for it and how its words ("8 layers frozen") were read.
struct Experiment {
  std::string name;            // the file's stem
  std::string title;           // "ResNet-18, 8 layers frozen, SpecAugment"
  std::string paper;           // "Table V"
  double paper_accuracy = -1;  // as a fraction; < 0 when the paper gives none
  std::string interpretation;
  TrainConfig config;
};
Experiment read_experiment(const std::filesystem::path& file);
// Every .toml and .json in a folder, sorted by name.
std::vector<Experiment> read_experiments(const std::filesystem::path& dir);

struct ExperimentOptions {
  std::string data;                 // dataset folder (required)
  std::string split;                // "" keeps each config's; else paper, sturm, kfold:K, lists:...
  std::string split_dir;            // for sturm
  int seeds = 1;                    // how many seeds per experiment, [1, 100]
  int first_seed = 1;               // seeds first_seed .. first_seed + seeds - 1 (fresh partitions for k-fold)
  std::string out = "runs/experiments";
  std::string cache;               // feature cache ("" : the default)
  int epochs = 0;                   // > 0 replaces every config's epoch count (quick runs)
  std::string pretrained;           // "" keeps each config's; "none" trains from scratch; or a file / "imagenet"
  std::string precision;            // "" keeps each config's
  std::vector<std::string> only;    // names to run (empty: all)
  const std::atomic<bool>* stop = nullptr;  // set: the current run stops after its batch (RunControl::stop)
};

struct ExperimentResult {
  Experiment experiment;
  std::vector<double> accuracy;    // test accuracy per seed (mean over folds for kfold)
  double mean = 0, std = 0;        // over seeds
  int epochs = 0;
  double seconds_per_epoch = 0;
};

// Runs every experiment for every seed into <out>/<name>/seed-<s>[/fold-<f>], skipping runs that finished
// (their test.json) and resuming interrupted ones; writes <out>/RESULTS.md (a markdown table: the paper's
// figure beside genrenet's mean ± standard deviation, epochs and seconds per epoch) and returns the rows.
std::vector<ExperimentResult> run_experiments(const std::filesystem::path& dir, const ExperimentOptions& options);
std::string experiments_markdown(const std::vector<ExperimentResult>& results, const ExperimentOptions& options);

}  // namespace genrenet
