// genrenet's training stage (src/train): the training config, training a run (one, or one per fold), the
// training precision, and evaluating a run folder's model. Data, evaluation, data-parallel set-up and
// experiments have headers of their own (data.h, evaluate.h, distributed.h, experiments.h).
#pragma once

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <genrenet/compute.h>
#include <genrenet/data.h>
#include <genrenet/distributed.h>
#include <genrenet/evaluate.h>
#include <genrenet/inference.h>
#include <genrenet/library.h>
#include <genrenet/model.h>
#include <genrenet/weights.h>

namespace genrenet {

// ---------------------------------------------------------------------------------------------------------
// Training (src/train/trainer.cpp)
// ---------------------------------------------------------------------------------------------------------

struct TrainConfig {
  std::string data;                 // dataset folder (labels: its class folders), or:
  GenreTagOptions tags;             // libraries labelled by their genre tags (tags.libraries; then `data` stays empty)
  std::string split = "paper";      // see make_split ("album" suits tagged libraries)
  std::string split_dir;            // for "sturm"
  int fold = 0;                     // for "kfold:K"
  std::string cache;                // feature cache folder (default: default_feature_cache_dir())
  std::string out = "runs/run";     // run folder
  ModelOptions model;
  std::string pretrained;           // "", a weight file, or "imagenet"
  // A genrenet model file to start from with a new head (transfer from a GTZAN model to a library's own
  // genres): its architecture and feature options replace the config's, every tensor but fc is loaded.
  std::string init;
  // Classes of unequal size: "none", "weights" (the loss weighs each class by total / (classes x its
  // count) in the training subset) or "sampling" (each epoch draws its clips with those weights, with
  // replacement); "auto": weights for tagged libraries, none for class folders (GTZAN is balanced).
  std::string balance = "auto";
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
  // The frozen trunk (src/train/frozen_trunk.h): when conv1, bn1 and the first stages are frozen, they run
  // as an inference network in this precision: "auto" (measured, cached), "fp32" (the training network's
  // modules, exactly as without a trunk), "fp32-cl", "bf16", "int8" (calibrated on training clips), or "off".
  std::string trunk_precision = "auto";
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

// The dataset a config names: --data's class folders, or the files of its libraries that carry a learnt genre
// tag (scan_tagged_library; `report` receives what the tags gave).
Dataset training_dataset(const TrainConfig& config, TaggedLibrary* report = nullptr);
std::string dataset_name(const TrainConfig& config);  // for messages: --data, or the first tagged library

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

// How a training runs beyond its config: resume or overwrite, and cancellation. `stop` is read after every
// batch; whoever owns it (a signal handler, another thread, a window's Stop button) sets it, and the training
// stops after the current batch, the checkpoint of its last finished epoch kept (resume continues from it).
struct RunControl {
  bool resume = false;     // continue the run in config.out from its last finished epoch
  bool overwrite = false;  // train afresh into a folder that holds a trained run (its files are replaced)
  const std::atomic<bool>* stop = nullptr;  // lock-free, so a signal handler may set it
  bool stop_requested() const { return stop && stop->load(); }
};

// Trains as configured, writing into config.out (io::RunFolder names the files): config.json, split.json,
// metrics.csv, curves.png, best.safetensors and last.safetensors (genrenet model files), last.optimizer.pt
// and last.json (progress), each epoch committed at once. With `resume`, continues the run in config.out from
// its last finished epoch, exactly, with the run's saved config; config.epochs, when above 0, replaces its
// epoch count. A folder that already holds a finished epoch is refused (Error) unless resume or overwrite.
// A config whose split is "kfold:K" is one fold (config.fold); train_kfold runs them all.
TrainResult train(const TrainConfig& config, const RunControl& control = {});
TrainResult train(const TrainConfig& config, bool resume, bool overwrite = false);

// Fits a run's models' ConfidenceCalibration (genrenet/model.h) on its split's validation subset (fp32,
// windows as evaluate cuts them) and writes it into best.safetensors and last.safetensors (atomically; the
// weights are unchanged). `train_and_test` calls it after training; `genrenet calibrate` for older runs.
// Throws Error when the run has no validation clips or no finished epoch.
struct CalibrateOptions {
  double energy_tpr = 0.95;  // (0, 1]: the share of validation clips the out-of-distribution threshold keeps
  void validate() const;
};
struct CalibratedRun {
  ConfidenceCalibration best, last;
};
CalibratedRun calibrate_run(const std::filesystem::path& run, const CalibrateOptions& options = {});

// A run trained, calibrated on its validation subset (calibrate_run; skipped when it has none) and then
// tested on its split's test subset (none when the split has no test clips).
struct TestedRun {
  TrainResult training;
  std::optional<CalibratedRun> calibration;
  std::optional<Evaluation> test;
};
TestedRun train_and_test(const TrainConfig& config, const RunControl& control = {});

// The runs of one config: the config itself, or for a "kfold:K" split K runs, fold f's in <out>/fold-<f>.
std::vector<TrainConfig> fold_runs(const TrainConfig& config);

// Every fold of a "kfold:K" config trained and tested on its own fold (rank 0 tests; the others train), then
// <out>/kfold.json (accuracy per fold, mean, standard deviation). With control.resume, folds holding a
// checkpoint continue from it. Prints a line per fold on rank 0.
struct KFoldResult {
  std::vector<Evaluation> folds;  // on rank 0 only
  MeanStd accuracy;
  bool interrupted = false;
};
KFoldResult train_kfold(const TrainConfig& config, const RunControl& control = {});

// The precision a training run uses: config.precision as given, or for "auto" the fastest of fp32, fp32-cl
// and bf16 for this model, freezing, batch and thread count on this CPU (a few training steps of each, once;
// then cached: genrenet/compute.h). `force_measure` times again (`genrenet tune --train`).
// `workload` receives what was measured (for printing).
PrecisionChoice choose_training_precision(const TrainConfig& config, const ModelOptions& model, int threads,
                                          bool force_measure = false, Workload* workload = nullptr);
// `genrenet tune --train`: every training precision timed for a model file's network (or an untrained
// `arch`; TuneOptions, genrenet/inference.h) with its first `freeze_children` top-level modules frozen, and
// the fastest cached for the training precision "auto".
struct TrainingTuneOptions : TuneOptions {
  int freeze_children = 0;
};
struct TrainingTuneResult : TuneResult {
  // Training with a frozen trunk (freeze_children leaves conv1 and bn1 frozen): its inference precisions,
  // timed as `genrenet train` times them (--trunk-precision auto).
  std::optional<PrecisionChoice> trunk;
  Workload trunk_workload;
};
TrainingTuneResult tune_training_precision(const TrainingTuneOptions& options);

// Clips per second of a few training steps of `model` (config's freezing, batch, features) at precision `p`
// (time_candidate_steps: cut short when far behind `leader_clips_per_second`; 0 = time fully).
CandidateSpeed time_training_steps(const TrainConfig& config, const ModelOptions& model, Precision p,
                                   double leader_clips_per_second = 0);

// Loss and accuracy per epoch, training and validation.
void plot_training_curves(const std::filesystem::path& png, const std::vector<EpochMetrics>& history);


// Evaluates a run's model ("best", "last", or "": the run's test_model) on a subset of its split
// ("train", "valid" or "test"), writing eval-<subset>.json, confusion-<subset>.png and
// reliability-<subset>.png into the run folder. `precision` is an inference precision (genrenet/compute.h);
// "" takes the run's training precision, which for "auto" means the fastest inference precision on this CPU
// (measured once, cached). The model's temperature is applied unless `calibrated` is false; the
// evaluation reports the expected calibration error and NLL at temperature 1 and at the model's.
Evaluation evaluate_run(const std::filesystem::path& run, const std::string& subset = "test",
                        const std::string& which = "", const std::string& precision = "", bool calibrated = true);


}  // namespace genrenet
