// genrenet train | evaluate : the paper's workflow (predict lives in cmd_predict.cpp).
#include <atomic>
#include <cstdio>

#include <genrenet/train.h>

#include "cli/commands.h"
#include "common/stop_signals.h"
#include "io/run_folder.h"

namespace genrenet::cli {
namespace {

struct TrainArgs {
  std::string config_file, feature_config;
  bool resume = false, overwrite = false;
  int nproc = 1;
  OptionFlags<TrainConfig> flags{train_config_table()};
};

// The defaults, then the config file, then --feature-config, then the flags typed on the command line.
TrainConfig resolve(const TrainArgs& a, const CLI::App* cmd) {
  TrainConfig c = a.config_file.empty() ? TrainConfig{} : TrainConfig::from_file(a.config_file);
  if (!a.feature_config.empty()) c.features = read_feature_config(a.feature_config);
  a.flags.apply(c);
  // A library's clips come in albums: the split keeps each album on one side unless another was asked for.
  if (!c.tags.libraries.empty() && c.split == "paper" && !cmd->count("--split")) c.split = "album";
  return c;
}

void print_evaluation(const Evaluation& e, const std::string& run, const std::string& subset) {
  std::printf("%s: %d clips, accuracy %.4f, macro F1 %.4f (%s model, epoch %d) in %s\n", subset.c_str(), e.count,
              e.accuracy, e.macro_f1, e.model.c_str(), e.epoch, e.inference_precision.c_str());
  std::printf("%-12s %9s %7s %7s %8s\n", "class", "precision", "recall", "f1", "support");
  for (auto& m : e.per_class)
    std::printf("%-12s %9.3f %7.3f %7.3f %8d\n", m.name.c_str(), m.precision, m.recall, m.f1, m.support);
  if (e.temperature != 1)
    std::printf("calibration: temperature %.3f; ECE (15 bins) %.4f -> %.4f, NLL %.4f -> %.4f\n", e.temperature,
                e.uncalibrated.ece, e.calibrated.ece, e.uncalibrated.nll, e.calibrated.nll);
  else
    std::printf("calibration: none applied; ECE (15 bins) %.4f, NLL %.4f\n", e.calibrated.ece, e.calibrated.nll);
  const io::RunFolder folder(run);
  std::printf("wrote %s, %s and %s\n", folder.evaluation(subset).c_str(), folder.confusion(subset).c_str(),
              folder.reliability(subset).c_str());
}

void print_calibration(const char* which, const ConfidenceCalibration& c) {
  std::printf("%-5s temperature %.3f on %d %s clips: ECE %.4f -> %.4f, NLL %.4f -> %.4f; energy threshold %.3f "
              "(keeps %.0f%% of them)\n",
              which, c.temperature, c.clips, c.subset.c_str(), c.ece_before, c.ece_after, c.nll_before, c.nll_after,
              c.energy_threshold, 100 * c.energy_tpr);
}

int run_train(const TrainArgs& a, const CLI::App* cmd) {
  // --nproc N: this command line again as N workers (each sees WORLD_SIZE and trains).
  if (a.nproc > 1 && !distributed_env().active()) return launch_local_workers(a.nproc);
  const StopSignals signals;
  const RunControl control{a.resume, a.overwrite, signals.flag()};
  TrainConfig c = resolve(a, cmd);
  if (a.resume && !cmd->count("--epochs")) c.epochs = 0;  // 0: the run's own epoch count
  if (kfold_count(c.split) > 0) return train_kfold(c, control).interrupted ? 130 : 0;
  const TestedRun r = train_and_test(c, control);
  if (r.training.interrupted) return 130;
  if (r.test) print_evaluation(*r.test, c.out, "test");
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a model as the paper does (see docs/MODELS.md for --freeze-*)");
  cmd->add_option("--config", a->config_file, "Training config, .json or .toml (flags given here override it)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--feature-config", a->feature_config, "JSON file of feature options (over the config's; flags override it)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--resume", a->resume, "Continue the run in --out from its last finished epoch");
  cmd->add_flag("--overwrite", a->overwrite, "Train afresh into an --out that holds a run already (its files are replaced)");
  cmd->add_option("--nproc", a->nproc,
                  "Data-parallel: start N worker processes on this machine, each with --batch clips a step "
                  "(docs/DISTRIBUTED.md; torchrun-style variables start workers on several machines)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  a->flags.add_to(cmd);
  cmd->callback([a, cmd, &exit_code] { exit_code = run_train(*a, cmd); });
}

void add_evaluate_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string run, split = "test", model;
    bool json = false;
    OptionFlags<ComputeOptions> compute_flags{compute_options_table(), {"precision"}};
    ClassifierFlags classifier_flags{{"calibrated"}};
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("evaluate", "Accuracy, per-class metrics, the confusion matrix and the calibration error of a run");
  cmd->add_option("--run", a->run, "Run folder")->required();
  cmd->add_option("--split", a->split, "train, valid or test")->capture_default_str();
  cmd->add_option("--model", a->model, "best or last (default: the run's test_model)");
  cmd->add_flag("--json", a->json, "Print the evaluation as JSON");
  ComputeOptions shown;
  shown.precision = "the run's";  // (its training precision; for auto, the fastest inference precision here)
  a->compute_flags.add_to(cmd, shown);
  a->classifier_flags.add_to(cmd);
  cmd->callback([a, &exit_code] {
    ComputeOptions compute;
    compute.precision = "";  // "": the run's
    a->compute_flags.apply(compute);
    if (!compute.precision.empty()) a->compute_flags.apply_checked(compute);
    ClassifierOptions co;
    a->classifier_flags.apply_checked(co);
    Evaluation e = evaluate_run(a->run, a->split, a->model, compute.precision, co.calibrated);
    if (a->json) std::printf("%s\n", e.to_json().c_str());
    else print_evaluation(e, a->run, a->split);
    exit_code = 0;
  });
}

void add_calibrate_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string run;
    CalibrateOptions options;
    OptionFlags<CalibrateOptions> flags{calibrate_options_table()};
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "calibrate", "Fit a run's confidence calibration (temperature, out-of-distribution threshold) on its validation clips");
  cmd->add_option("RUN", a->run, "Run folder (train does this at its end; for runs trained before)")->required();
  a->flags.add_to(cmd);
  cmd->callback([a, &exit_code] {
    a->flags.apply_checked(a->options);
    const CalibratedRun r = calibrate_run(a->run, a->options);
    print_calibration("best", r.best);
    print_calibration("last", r.last);
    exit_code = 0;
  });
}

}  // namespace genrenet::cli
