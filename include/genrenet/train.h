// genrenet's data, training and evaluation stages (src/data, src/train, src/eval).
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <genrenet/compute.h>
#include <genrenet/model.h>

namespace genrenet {

// ---------------------------------------------------------------------------------------------------------
// Datasets (src/data/dataset.cpp)
// ---------------------------------------------------------------------------------------------------------

struct Clip {
  std::filesystem::path path;
  int label = -1;
  std::string id;  // "<class>/<file stem>", e.g. "jazz/jazz.00054": how split lists name clips
};

struct Dataset {
  std::filesystem::path root;        // the folder whose sub-folders are the classes
  std::vector<std::string> classes;  // sorted folder names
  std::vector<Clip> clips;           // sorted by id
};

// GTZAN in any common layout — genres/<genre>/*.au (the original), genres_original/<genre>/*.wav (Kaggle,
// also under Data/) — or any <root>/<class>/<audio files> tree. A missing folder, or one without any
// class folder holding audio, is an Error naming it.
Dataset scan_dataset(const std::filesystem::path& dir);

// ---------------------------------------------------------------------------------------------------------
// Splits (src/data/splits.cpp)
// ---------------------------------------------------------------------------------------------------------

struct Split {
  std::string spec;                     // how it was made, e.g. "paper", "sturm", "kfold:5/2"
  std::vector<std::string> train, valid, test;  // clip ids
  std::vector<std::string> not_found;   // list entries without a clip in the dataset
  std::string to_json() const;
  static Split from_json(const std::string& json);
};

// spec: "paper" (stratified 80/10/10 with `seed`), "sturm" (train/valid/test_filtered.txt from
// `split_dir`), "kfold:K" (stratified; `fold` in [0, K) is the test fold, a tenth of each class's other
// clips validates, the rest trains), or "lists:TRAIN,VALID,TEST" (files of clip ids or paths, one per line).
Split make_split(const Dataset& data, const std::string& spec, unsigned seed, const std::filesystem::path& split_dir = {},
                 int fold = 0);
int kfold_count(const std::string& spec);  // K for "kfold:K", 0 otherwise

// ---------------------------------------------------------------------------------------------------------
// Feature cache (src/data/feature_cache.cpp)
// ---------------------------------------------------------------------------------------------------------

// Log-mel spectrograms (dB, full length) keyed by the file's content (SHA-256) and by the options that
// shape them: a changed file or option is recomputed, an unchanged one never. Entries are .npy files
// written atomically, each by one writer (a lock file per group of entries), so several processes may fill
// one cache at once and each clip is computed once; a damaged entry is detected and rebuilt.
class FeatureCache {
 public:
  FeatureCache(std::filesystem::path dir, FeatureOptions options);
  const std::filesystem::path& dir() const { return dir_; }
  const FeatureOptions& options() const { return extractor_.options(); }

  struct Result {
    std::vector<Spectrogram> spectrograms;  // one per input; empty (n_frames 0) where it failed
    std::vector<std::string> errors;        // "" where it worked
    int computed = 0, reused = 0, failed = 0;
  };
  // All files, in parallel over `threads`, with a progress bar labelled `label`.
  Result load(const std::vector<std::filesystem::path>& files, int threads, const std::string& label = "features");

 private:
  Spectrogram load_one(const std::filesystem::path& file, bool& computed);
  std::optional<Spectrogram> read_entry(const std::filesystem::path& entry) const;
  std::filesystem::path dir_;
  FeatureExtractor extractor_;
};

// $XDG_CACHE_HOME/genrenet/features, or ~/.cache/genrenet/features.
std::filesystem::path default_feature_cache_dir();

// ---------------------------------------------------------------------------------------------------------
// Synthetic genres (src/data/synth.cpp)
// ---------------------------------------------------------------------------------------------------------

// The ten GTZAN genre names, each a small procedural style: its own tempo range, drum pattern, bass,
// harmony, timbre and noise colour, randomised per clip (key, tempo, pattern variations, levels, mix).
const std::vector<std::string>& synthetic_genres();
std::vector<float> synthesize_genre_clip(int genre, double seconds, int sample_rate, std::uint32_t seed);
// Writes <out>/<genre>/<genre>.000NN.wav for every genre; returns the number of files.
int write_synthetic_dataset(const std::filesystem::path& out, int per_class, double seconds, std::uint32_t seed,
                            int sample_rate = 22050);

// ---------------------------------------------------------------------------------------------------------
// Training (src/train/trainer.cpp)
// ---------------------------------------------------------------------------------------------------------

struct TrainConfig {
  std::string data;                 // dataset folder
  std::string split = "paper";      // see make_split
  std::string split_dir;            // for "sturm"
  int fold = 0;                     // for "kfold:K"
  std::string cache;                // feature cache folder (default: default_feature_cache_dir())
  std::string out = "runs/run";     // run folder
  ModelOptions model;
  std::string pretrained;           // "", a weight file, or "imagenet"
  FreezeOptions freeze;
  int epochs = 20;                  // [1, 100000]
  int batch = 16;                   // [1, 4096]
  double lr = 1e-4;                 // Adam's learning rate, (0, 1]
  double weight_decay = 0;          // Adam's L2 weight decay, [0, 1)
  double label_smoothing = 0;       // [0, 1)
  std::string schedule = "constant";  // or "cosine" (to 0 over the epochs)
  bool specaugment = false;
  SpecAugmentOptions augment;
  bool random_crop = true;          // random 1024-frame crops for training (centre crops always for eval)
  unsigned seed = 1;
  std::string precision = "auto";   // "fp32", "fp32-cl", "bf16" (autocast + channels_last), "auto": measured (compute.h)
  std::string device = "cpu";       // or "cuda" when LibTorch has CUDA
  int threads = 0;                  // 0: every core (shared out among the processes of one machine)
  bool sync_bn = false;             // data-parallel runs: batch norms use the global batch's statistics
  int dist_timeout = 600;           // data-parallel runs: seconds to wait for another process, [10, 86400]
  // The model a run is tested with: "best" (the epoch of the best validation accuracy, as the paper) or
  // "last" (the final epoch; for small validation sets, whose best epoch is mostly noise).
  std::string test_model = "best";
  FeatureOptions features;

  void validate() const;
  std::string to_json() const;
  static TrainConfig from_json(const std::string& json);  // unknown keys are errors
  // A .json or .toml file (the same keys; TOML tables for model, freeze, augment and features).
  static TrainConfig from_file(const std::filesystem::path& path);
};

struct EpochMetrics {
  int epoch = 0;
  double train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0, seconds = 0;
};

struct TrainResult {
  std::vector<EpochMetrics> history;
  int best_epoch = 0;
  double best_val_acc = 0;
  bool interrupted = false;
  std::filesystem::path best_model, last_model;
};

// Set from a signal handler (Ctrl-C): training stops after the current batch; the checkpoint of the last
// finished epoch stays, and --resume continues from it.
extern std::atomic<bool> g_stop_training;

// Trains as configured, writing into config.out: config.json, split.json, metrics.csv, curves.png,
// best.safetensors and last.safetensors (genrenet model files) and last.state (optimiser and progress).
// With `resume`, continues the run in config.out from its last finished epoch, exactly, with the run's
// saved config; config.epochs, when above 0, replaces its epoch count. A folder that already holds a
// finished epoch is refused (Error) unless `resume` or `overwrite`.
TrainResult train(const TrainConfig& config, bool resume = false, bool overwrite = false);

// ---------------------------------------------------------------------------------------------------------
// Data-parallel training over processes and machines (src/train/distributed.cpp, launch.cpp;
// docs/DISTRIBUTED.md)
// ---------------------------------------------------------------------------------------------------------

// This process's place in a data-parallel run. train() joins the run when world_size > 1: rendezvous
// through c10d's TCPStore at master_addr:master_port (served by rank 0), gradients all-reduced by
// c10d's Reducer over Gloo (NCCL with CUDA builds), rank 0 alone writing the run folder.
struct DistributedEnv {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;  // among the processes of this machine
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool active() const { return world_size > 1; }
  // torchrun's variables RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, or
  // where RANK is unset, Slurm's SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE. None
  // of them: a single process. A malformed or inconsistent value is an Error naming the variable.
  static DistributedEnv from_environment();
};
// The environment of this process, read once.
const DistributedEnv& distributed_env();
// Rank 0, or a process that is not part of a data-parallel run: the one that prints and writes files.
bool is_main_process();

// Runs this very command line `nproc` times as the workers of a one-machine data-parallel run (RANK,
// LOCAL_RANK, WORLD_SIZE = nproc, MASTER_ADDR 127.0.0.1 and a free MASTER_PORT unless set) and waits.
// Ctrl-C and SIGTERM are passed on (the workers stop together after a step); when a worker fails, the
// others get `grace_seconds` to stop by themselves and are then killed. Returns 0 when every worker
// succeeded, else the exit status of the first that failed (128 + signal when killed).
int launch_local_workers(int nproc, double grace_seconds = 30);


// The precision a training run uses: config.precision as given, or for "auto" the fastest of fp32, fp32-cl
// and bf16 for this model, freezing, batch and thread count on this CPU (a few training steps of each, once;
// then cached: genrenet/compute.h). `force_measure` times again (`genrenet tune --train`).
// `workload` receives what was measured (for printing).
PrecisionChoice choose_training_precision(const TrainConfig& config, const ModelOptions& model, int threads,
                                          bool force_measure = false, Workload* workload = nullptr);
// Clips per second of a few training steps of `model` (config's freezing, batch, features) at precision `p`.
double time_training_steps(const TrainConfig& config, const ModelOptions& model, Precision p);

// ---------------------------------------------------------------------------------------------------------
// Evaluation (src/eval/metrics.cpp)
// ---------------------------------------------------------------------------------------------------------

struct ClassMetrics {
  std::string name;
  double precision = 0, recall = 0, f1 = 0;
  int support = 0;
};

struct Evaluation {
  std::vector<std::string> classes;
  std::vector<std::vector<int>> confusion;  // [true][predicted]
  double accuracy = 0, macro_f1 = 0, loss = 0;
  int count = 0;
  std::vector<ClassMetrics> per_class;
  std::string model;  // which of a run's models was evaluated ("best" or "last"; "" when not from a run)
  int epoch = 0;      // the epoch that model was saved at (0: unknown)
  std::string inference_precision;  // what the network ran in ("fp32", "bf16", "int8", ...)
  std::string to_json() const;
};

Evaluation evaluate_predictions(const std::vector<int>& truth, const std::vector<int>& predicted,
                                const std::vector<std::string>& classes);
// The confusion matrix as a heat map with class names (the paper's Fig. 4).
void plot_confusion(const std::filesystem::path& png, const Evaluation& e, const std::string& title = "");
// Loss and accuracy per epoch, training and validation.
void plot_training_curves(const std::filesystem::path& png, const std::vector<EpochMetrics>& history);

// Evaluates a run's model ("best", "last", or "": the run's test_model) on a subset of its split
// ("train", "valid" or "test"), writing eval-<subset>.json and confusion-<subset>.png into the run folder.
// `precision` is an inference precision (genrenet/compute.h); "" takes the run's training precision, which
// for "auto" means the fastest inference precision on this CPU (measured once, cached).
Evaluation evaluate_run(const std::filesystem::path& run, const std::string& subset = "test",
                        const std::string& which = "", const std::string& precision = "");


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
};

struct ExperimentResult {
  Experiment experiment;
  std::vector<double> accuracy;    // test accuracy per seed (mean over folds for kfold)
  double mean = 0, std = 0;        // over seeds
  int epochs = 0;
  double seconds_per_epoch = 0;
};

// Mean and sample standard deviation of accuracies over seeds or folds (std 0 for a single value).
struct MeanStd {
  double mean = 0, std = 0;
};
MeanStd mean_and_std(const std::vector<double>& values);

// Runs every experiment for every seed into <out>/<name>/seed-<s>[/fold-<f>], skipping runs that finished
// (their test.json) and resuming interrupted ones; writes <out>/RESULTS.md (a markdown table: the paper's
// figure beside genrenet's mean ± standard deviation, epochs and seconds per epoch) and returns the rows.
std::vector<ExperimentResult> run_experiments(const std::filesystem::path& dir, const ExperimentOptions& options);
std::string experiments_markdown(const std::vector<ExperimentResult>& results, const ExperimentOptions& options);

}  // namespace genrenet
