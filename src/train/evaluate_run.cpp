// A run folder's evaluation (its model on a subset of its split, windows averaged as predict does, written
// beside the run: eval-<subset>.json, confusion-<subset>.png, reliability-<subset>.png) and its calibration
// (the confidence calibration fitted on the validation subset, written into its model files).
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include <genrenet/train.h>

#include "common/log.h"
#include "common/option_tables.h"
#include "eval/calibration.h"
#include "infer/inference.h"
#include "infer/windowed_scorer.h"
#include "io/atomic_file.h"
#include "io/run_folder.h"

namespace genrenet {
namespace {

// The epoch a model file was saved at (0: a model file written by hand; the evaluation stands).
int saved_epoch(const ModelFile& mf) {
  try {
    return nlohmann::json::parse(mf.training_json).value("epoch", 0);
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
}

void write_evaluation(const io::RunFolder& run, const std::string& subset, const Evaluation& e) {
  io::write_file_atomically(run.evaluation(subset), e.to_json());
  char title[160];
  std::snprintf(title, sizeof title, "Confusion matrix, %s (%d clips, accuracy %.1f%%)", subset.c_str(), e.count,
                100 * e.accuracy);
  plot_confusion(run.confusion(subset), e, title);
  std::snprintf(title, sizeof title, "Reliability, %s (%d clips, temperature %.3g)", subset.c_str(), e.count, e.temperature);
  plot_reliability(run.reliability(subset), e.uncalibrated, e.calibrated, title);
}

// A checkpoint commit that a kill interrupted is completed first, as the next `train` would complete it, so
// that the model evaluated is the one the run committed last. While a training holds the folder (its lock),
// nothing is touched: its files are whole either way.
void complete_interrupted_commit(const io::RunFolder& run) {
  std::optional<io::RunFolderLock> lock;
  try {
    lock.emplace(run);
  } catch (const Error&) {
    return;  // a training holds the folder, or it cannot be written: read it as it is
  }
  run.recover_and_report();
}

// Runs of earlier releases kept the folders as given on the command line, relative to where training ran.
// That folder is found from the run folder's own path: the run was written to `out` from there.
void resolve_relative_folders(TrainConfig& config, const std::filesystem::path& run_path) {
  const std::filesystem::path out(config.out);
  if (out.empty() || out.is_absolute()) return;
  std::filesystem::path base = std::filesystem::absolute(run_path).lexically_normal();
  if (base.filename().empty()) base = base.parent_path();  // "runs/run/"
  auto rel = out.lexically_normal();
  if (rel.filename().empty()) rel = rel.parent_path();
  for (auto it = rel; !it.empty() && it != "."; it = it.parent_path()) {
    if (base.filename() != it.filename()) return;  // not the same trailing folders: leave the paths as they are
    base = base.parent_path();
  }
  for (std::string* folder : {&config.data, &config.split_dir, &config.cache})
    if (!folder->empty() && std::filesystem::path(*folder).is_relative()) *folder = (base / *folder).lexically_normal().string();
}

// A subset of a run's split scored by a model of the run, windows as predict cuts them, at temperature 1.
struct ScoredSubset {
  WindowProbabilities scored;
  std::vector<int> truth;
  std::string precision;  // what the network ran in
};

ScoredSubset score_subset(const std::filesystem::path& run_path, const TrainConfig& config, const ModelFile& mf,
                          const std::string& subset, const std::string& precision) {
  const io::RunFolder run(run_path);
  const Split split = Split::from_json(io::read_text_file(run.split()));
  const std::vector<std::string>& ids = split.subset(subset);
  if (ids.empty()) throw Error(run_path.string(), "the " + subset + " subset of this run's split is empty");
  const int batch = 16;
  const InferenceNet net = make_inference_net(mf, {config.device, precision, config.threads}, batch);
  Dataset data = training_dataset(config);
  if (data.classes != mf.classes)
    throw Error(dataset_name(config), "its classes differ from the model's");
  const SplitClips clips = find_clips(data, ids);
  std::vector<std::filesystem::path> files;
  for (auto& c : clips.clips) files.push_back(c.path);
  FeatureCache cache(config.cache.empty() ? default_feature_cache_dir() : std::filesystem::path(config.cache), mf.features);
  auto loaded = cache.load(files, 0, "features (" + subset + ")");
  // Clips longer than the model input are judged on windows of it every half input, their probabilities
  // averaged (test-time averaging, as `predict` does); shorter ones are one padded input, as in training.
  std::vector<AudioWindows> audios;
  ScoredSubset out;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!loaded.errors[i].empty()) {
      log(LogLevel::Warning, "skipped unreadable clip: " + loaded.errors[i]);
      continue;
    }
    audios.push_back(cut_windows(std::move(loaded.spectrograms[i]), mf.features, mf.features.frames, mf.features.frames / 2));
    out.truth.push_back(clips.clips[i].label);
  }
  if (audios.empty()) throw Error(run_path.string(), "no clip of the " + subset + " subset could be read");
  out.scored = score_windows(net, audios, batch);
  out.precision = precision_name(net.precision());
  return out;
}

}  // namespace

Evaluation evaluate_run(const std::filesystem::path& run_path, const std::string& subset, const std::string& model_choice,
                        const std::string& precision, bool calibrated) {
  const io::RunFolder run(run_path);
  if (std::filesystem::is_directory(run_path)) complete_interrupted_commit(run);  // else config.json's error names it
  TrainConfig config = TrainConfig::from_json(io::read_text_file(run.config()));
  resolve_relative_folders(config, run_path);
  const std::string which = model_choice.empty() ? config.test_model : model_choice;
  if (which != "best" && which != "last") throw Error("model", "must be best or last, got \"" + which + "\"");
  const ModelFile mf = read_model_file(which == "best" ? run.best_model() : run.last_model());
  const ScoredSubset s = score_subset(run_path, config, mf, subset, precision.empty() ? config.precision : precision);
  const double temperature = calibrated && !mf.calibration.empty() ? mf.calibration.temperature : 1.0;
  const WindowProbabilities p = at_temperature(s.scored, temperature);
  const torch::Tensor pred = p.mean.argmax(1);
  std::vector<int> predicted(pred.size(0));
  for (int64_t i = 0; i < pred.size(0); ++i) predicted[i] = static_cast<int>(pred[i].item<int64_t>());
  Evaluation e = evaluate_predictions(s.truth, predicted, mf.classes);
  e.model = which;
  e.inference_precision = s.precision;
  e.epoch = saved_epoch(mf);
  e.temperature = temperature;
  e.uncalibrated = calibration_report(at_temperature(s.scored, 1).mean, s.truth);
  e.calibrated = calibration_report(p.mean, s.truth);
  e.loss = e.calibrated.nll;
  write_evaluation(run, subset, e);
  return e;
}

const options::Table<CalibrateOptions>& calibrate_options_table() {
  static const auto table = options::Table<CalibrateOptions>("calibration option", "Calibration")
                                .number("energy_tpr", &CalibrateOptions::energy_tpr, {0, 1, true, false},
                                        "Share of validation clips the out-of-distribution threshold keeps", "--energy-tpr");
  return table;
}

void CalibrateOptions::validate() const { calibrate_options_table().validate(*this); }

CalibratedRun calibrate_run(const std::filesystem::path& run_path, const CalibrateOptions& options) {
  options.validate();
  const io::RunFolder run(run_path);
  if (!std::filesystem::is_directory(run_path)) throw Error(run_path.string(), "no such run folder");
  const io::RunFolderLock lock(run);  // a training that holds the folder is not written under
  run.recover_and_report();
  if (!run.has_finished_epoch()) throw Error(run_path.string(), "no finished epoch to calibrate");
  const TrainConfig config = TrainConfig::from_json(io::read_text_file(run.config()));
  CalibratedRun result;
  for (auto [path, into] : {std::pair{run.best_model(), &result.best}, {run.last_model(), &result.last}}) {
    ModelFile mf = read_model_file(path);
    // Fitted in fp32 whatever precision the model will run in: the temperature is a property of the model.
    const ScoredSubset s = score_subset(run_path, config, mf, "valid", "fp32");
    mf.calibration = fit_calibration(s.scored, s.truth, options.energy_tpr);
    mf.calibration.subset = "valid";
    save_model_file(path, mf);
    *into = mf.calibration;
  }
  return result;
}

}  // namespace genrenet
