// A training config's runs end to end: trained, then tested; one run, or one per fold of a k-fold split.
#include <cstdio>

#include <nlohmann/json.hpp>

#include <genrenet/train.h>

#include "common/log.h"
#include "io/atomic_file.h"
#include "io/run_folder.h"

namespace genrenet {

TestedRun train_and_test(const TrainConfig& config, const RunControl& control) {
  TestedRun r;
  r.training = train(config, control);
  // In a data-parallel run every process trains; rank 0 alone tests.
  if (r.training.interrupted || r.training.history.empty() || !is_main_process()) return r;
  const Split split = Split::from_json(io::read_text_file(io::RunFolder(config.out).split()));
  if (!split.valid.empty()) {
    r.calibration = calibrate_run(config.out);
    const ConfidenceCalibration& c = config.test_model == "last" ? r.calibration->last : r.calibration->best;
    logf(LogLevel::Result, "calibration (%s model, %d validation clips): temperature %.3f, ECE %.3f -> %.3f, NLL %.3f -> %.3f; "
         "out-of-distribution energy threshold %.3f (keeps %.0f%% of them)",
                config.test_model.c_str(), c.clips, c.temperature, c.ece_before, c.ece_after, c.nll_before, c.nll_after,
                c.energy_threshold, 100 * c.energy_tpr);
  }
  if (!split.test.empty()) r.test = evaluate_run(config.out, "test");
  return r;
}

std::vector<TrainConfig> fold_runs(const TrainConfig& config) {
  const int k = kfold_count(config.split);
  if (k == 0) return {config};
  const io::RunFolder base(config.out);
  std::vector<TrainConfig> runs;
  for (int f = 0; f < k; ++f) {
    TrainConfig run = config;
    run.fold = f;
    run.out = base.fold(f).string();
    runs.push_back(run);
  }
  return runs;
}

KFoldResult train_kfold(const TrainConfig& config, const RunControl& control) {
  const int k = kfold_count(config.split);
  if (k == 0) throw Error("training option split", "\"" + config.split + "\" is not a kfold:K split");
  const std::vector<TrainConfig> runs = fold_runs(config);
  const bool main = is_main_process();
  KFoldResult result;
  std::vector<double> accuracy;
  for (int f = 0; f < k && !control.stop_requested(); ++f) {
    RunControl fold_control = control;
    // Rank 0's reading of the folder holds for every process (the trainer shares it).
    fold_control.resume = control.resume && io::RunFolder(runs[f].out).has_finished_epoch();
    if (main) logf(LogLevel::Result, "== fold %d of %d ==", f + 1, k);
    TestedRun r = train_and_test(runs[f], fold_control);
    if (r.training.interrupted) {
      result.interrupted = true;
      return result;
    }
    if (!main || !r.test) continue;
    logf(LogLevel::Result, "fold %d: test accuracy %.4f", f + 1, r.test->accuracy);
    accuracy.push_back(r.test->accuracy);
    result.folds.push_back(*r.test);
  }
  result.interrupted = control.stop_requested();
  if (!main || result.interrupted) return result;
  result.accuracy = mean_and_std(accuracy);
  logf(LogLevel::Result, "%d-fold test accuracy: %.4f +- %.4f (mean +- standard deviation over folds)", k, result.accuracy.mean,
       result.accuracy.std);
  io::write_file_atomically(io::RunFolder(config.out).kfold_summary(),
                            nlohmann::json({{"folds", k}, {"accuracy", accuracy}, {"mean", result.accuracy.mean},
                                            {"std", result.accuracy.std}})
                                .dump(1));
  return result;
}

}  // namespace genrenet
