// genrenet train | evaluate : the paper's workflow (predict lives in cmd_predict.cpp).
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include <genrenet/train.h>

#include "cli/commands.h"
#include "io/atomic_file.h"
#include "io/run_folder.h"

namespace genrenet::cli {
namespace {

void on_interrupt(int) {
  g_stop_training = true;
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

struct TrainArgs {
  std::string config_file;
  TrainConfig c;
  bool resume = false, overwrite = false, no_random_crop = false;
  int nproc = 1;
  FeatureFlags features;
};

// Flags over the config file over the defaults: only the flags given on the command line override.
TrainConfig resolve(const TrainArgs& a, const CLI::App* cmd) {
  nlohmann::json j = nlohmann::json::parse(TrainConfig{}.to_json());
  if (!a.config_file.empty()) j = nlohmann::json::parse(TrainConfig::from_file(a.config_file).to_json());
  auto given = [&](const char* f) { return cmd->count(f) > 0; };
  const TrainConfig& c = a.c;
  if (given("--data")) j["data"] = c.data;
  if (given("--split")) j["split"] = c.split;
  if (given("--split-dir")) j["split_dir"] = c.split_dir;
  if (given("--cache")) j["cache"] = c.cache;
  if (given("--out")) j["out"] = c.out;
  if (given("--model")) j["model"]["arch"] = c.model.arch;
  if (given("--input-channels")) j["model"]["input_channels"] = c.model.input_channels;
  if (given("--dropout")) j["model"]["dropout"] = c.model.dropout;
  if (given("--pretrained")) j["pretrained"] = c.pretrained;
  if (given("--freeze-children")) j["freeze"]["children"] = c.freeze.children;
  if (given("--freeze-params")) j["freeze"]["params"] = c.freeze.params;
  if (given("--freeze")) j["freeze"]["regex"] = c.freeze.regex;
  if (given("--frozen-bn-train")) j["freeze"]["frozen_bn_train"] = true;
  if (given("--epochs")) j["epochs"] = c.epochs;
  if (given("--batch")) j["batch"] = c.batch;
  if (given("--lr")) j["lr"] = c.lr;
  if (given("--weight-decay")) j["weight_decay"] = c.weight_decay;
  if (given("--label-smoothing")) j["label_smoothing"] = c.label_smoothing;
  if (given("--schedule")) j["schedule"] = c.schedule;
  if (given("--specaugment")) j["specaugment"] = true;
  if (given("--freq-mask")) j["augment"]["freq_mask_width"] = c.augment.freq_mask_width;
  if (given("--time-mask")) j["augment"]["time_mask_width"] = c.augment.time_mask_width;
  if (given("--freq-masks")) j["augment"]["freq_masks"] = c.augment.freq_masks;
  if (given("--time-masks")) j["augment"]["time_masks"] = c.augment.time_masks;
  if (given("--time-warp")) j["augment"]["time_warp"] = c.augment.time_warp;
  if (given("--no-random-crop")) j["random_crop"] = false;
  if (given("--seed")) j["seed"] = c.seed;
  if (given("--precision")) j["precision"] = c.precision;
  if (given("--device")) j["device"] = c.device;
  if (given("--threads")) j["threads"] = c.threads;
  if (given("--sync-bn")) j["sync_bn"] = true;
  if (given("--dist-timeout")) j["dist_timeout"] = c.dist_timeout;
  if (given("--test-model")) j["test_model"] = c.test_model;
  TrainConfig out = TrainConfig::from_json(j.dump());
  out.features = a.features.resolve(cmd, out.features);
  return out;
}

void print_evaluation(const Evaluation& e, const std::string& run, const std::string& subset) {
  std::printf("%s: %d clips, accuracy %.4f, macro F1 %.4f (%s model, epoch %d) in %s\n", subset.c_str(), e.count,
              e.accuracy, e.macro_f1, e.model.c_str(), e.epoch, e.inference_precision.c_str());
  std::printf("%-12s %9s %7s %7s %8s\n", "class", "precision", "recall", "f1", "support");
  for (auto& m : e.per_class)
    std::printf("%-12s %9.3f %7.3f %7.3f %8d\n", m.name.c_str(), m.precision, m.recall, m.f1, m.support);
  const io::RunFolder folder(run);
  std::printf("wrote %s and %s\n", folder.evaluation(subset).c_str(), folder.confusion(subset).c_str());
}

int run_train(TrainArgs& a, const CLI::App* cmd) {
  // --nproc N: this command line again as N workers (each sees WORLD_SIZE and trains).
  if (a.nproc > 1 && !distributed_env().active()) return launch_local_workers(a.nproc);
  stop_training_on_signals();
  TrainConfig c = a.resume && a.config_file.empty() && !cmd->count("--data") ? a.c : resolve(a, cmd);
  if (a.resume) {
    c.out = a.c.out;
    c.epochs = cmd->count("--epochs") ? a.c.epochs : 0;  // 0: the run's own epoch count
  }
  const int k = kfold_count(c.split);
  // In a data-parallel run every process trains; rank 0 alone evaluates and prints.
  const bool main = is_main_process();
  if (k == 0) {
    TrainResult r = train(c, a.resume, a.overwrite);
    if (r.interrupted) return 130;
    if (main && !r.history.empty()) {
      Split split = Split::from_json(io::read_text_file(io::RunFolder(c.out).split()));
      if (!split.test.empty()) print_evaluation(evaluate_run(c.out, "test"), c.out, "test");
    }
    return 0;
  }
  // k-fold: one run per fold under <out>/fold-<f>, each tested on its own fold.
  const io::RunFolder base(c.out);
  std::vector<double> acc;
  for (int f = 0; f < k && !g_stop_training; ++f) {
    TrainConfig fc = c;
    fc.fold = f;
    fc.out = base.fold(f).string();
    const bool resume_fold = a.resume && io::RunFolder(fc.out).has_finished_epoch();
    if (main) std::printf("== fold %d of %d ==\n", f + 1, k);
    TrainResult r = train(fc, resume_fold, a.overwrite);  // rank 0's resume_fold holds for all processes
    if (r.interrupted) return 130;
    if (!main) continue;
    Evaluation e = evaluate_run(fc.out, "test");
    std::printf("fold %d: test accuracy %.4f\n", f + 1, e.accuracy);
    acc.push_back(e.accuracy);
  }
  if (!main) return 0;
  const MeanStd m = mean_and_std(acc);
  std::printf("%d-fold test accuracy: %.4f +- %.4f (mean +- standard deviation over folds)\n", k, m.mean, m.std);
  io::write_file_atomically(base.kfold_summary(),
                            nlohmann::json({{"folds", k}, {"accuracy", acc}, {"mean", m.mean}, {"std", m.std}}).dump(1));
  return 0;
}

}  // namespace

void stop_training_on_signals() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

void add_train_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a model as the paper does (see docs/MODELS.md for --freeze-*)");
  TrainConfig& c = a->c;
  cmd->add_option("--config", a->config_file, "Training config, .json or .toml (flags given here override it)")->check(CLI::ExistingFile);
  cmd->add_option("--data", c.data, "Dataset folder (GTZAN layouts or <root>/<class>/<files>)");
  cmd->add_option("--split", c.split, "paper, sturm, kfold:K or lists:TRAIN,VALID,TEST")->capture_default_str();
  cmd->add_option("--split-dir", c.split_dir, "Folder of {train,valid,test}_filtered.txt for --split sturm");
  cmd->add_option("--cache", c.cache, "Feature cache folder (default: ~/.cache/genrenet/features)");
  cmd->add_option("--out,-o", c.out, "Run folder")->capture_default_str();
  cmd->add_option("--model", c.model.arch, "resnet18, resnet34, resnet50 or seresnet50")->capture_default_str();
  cmd->add_option("--input-channels", c.model.input_channels, "1 or 3")->capture_default_str();
  cmd->add_option("--dropout", c.model.dropout, "Dropout before the head")->capture_default_str();
  cmd->add_option("--pretrained", c.pretrained, "A weight file (.pth, .safetensors) or \"imagenet\"");
  cmd->add_option("--freeze-children", c.freeze.children, "Freeze the first N top-level modules")->capture_default_str();
  cmd->add_option("--freeze-params", c.freeze.params, "Freeze the first N parameter tensors")->capture_default_str();
  cmd->add_option("--freeze", c.freeze.regex, "Freeze parameters whose names match this regex");
  cmd->add_flag("--frozen-bn-train", c.freeze.frozen_bn_train, "Let frozen batch norms update their statistics");
  cmd->add_option("--epochs", c.epochs, "Epochs")->capture_default_str();
  cmd->add_option("--batch", c.batch, "Batch size")->capture_default_str();
  cmd->add_option("--lr", c.lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", c.weight_decay, "Adam weight decay")->capture_default_str();
  cmd->add_option("--label-smoothing", c.label_smoothing, "Label smoothing")->capture_default_str();
  cmd->add_option("--schedule", c.schedule, "constant or cosine")->capture_default_str();
  cmd->add_flag("--specaugment", c.specaugment, "SpecAugment every training sample, afresh every epoch");
  cmd->add_option("--freq-mask", c.augment.freq_mask_width, "SpecAugment F (bins)")->capture_default_str();
  cmd->add_option("--time-mask", c.augment.time_mask_width, "SpecAugment T (frames)")->capture_default_str();
  cmd->add_option("--freq-masks", c.augment.freq_masks, "Frequency masks per sample")->capture_default_str();
  cmd->add_option("--time-masks", c.augment.time_masks, "Time masks per sample")->capture_default_str();
  cmd->add_option("--time-warp", c.augment.time_warp, "SpecAugment W (frames; 0: off)")->capture_default_str();
  cmd->add_flag("--no-random-crop", a->no_random_crop, "Centre crops in training too");
  cmd->add_option("--seed", c.seed, "Random seed (split, order, crops, augmentation)")->capture_default_str();
  cmd->add_option("--precision", c.precision, "auto (measured once per CPU and workload, cached), fp32, fp32-cl or bf16")->capture_default_str();
  cmd->add_option("--device", c.device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--threads", c.threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_option("--test-model", c.test_model,
                  "Model to test: best (best validation accuracy) or last (final epoch)")->capture_default_str();
  cmd->add_flag("--resume", a->resume, "Continue the run in --out from its last finished epoch");
  cmd->add_flag("--overwrite", a->overwrite, "Train afresh into an --out that holds a run already (its files are replaced)");
  cmd->add_option("--nproc", a->nproc,
                  "Data-parallel: start N worker processes on this machine, each with --batch clips a step "
                  "(docs/DISTRIBUTED.md; torchrun-style variables start workers on several machines)")
      ->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_flag("--sync-bn", c.sync_bn, "Data-parallel: batch norms use the statistics of the global batch");
  cmd->add_option("--dist-timeout", c.dist_timeout, "Data-parallel: seconds to wait for another process")->capture_default_str();
  a->features.add_to(cmd);
  cmd->callback([a, cmd, &exit_code] { exit_code = run_train(*a, cmd); });
}

void add_evaluate_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string run, split = "test", model, precision;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("evaluate", "Accuracy, per-class metrics and the confusion matrix of a run");
  cmd->add_option("--run", a->run, "Run folder")->required();
  cmd->add_option("--split", a->split, "train, valid or test")->capture_default_str();
  cmd->add_option("--model", a->model, "best or last (default: the run's test_model)");
  cmd->add_option("--precision", a->precision, "Inference precision: auto, fp32, fp32-cl, bf16 or int8 (default: the run's)");
  cmd->add_flag("--json", a->json, "Print the evaluation as JSON");
  cmd->callback([a, &exit_code] {
    Evaluation e = evaluate_run(a->run, a->split, a->model, a->precision);
    if (a->json) std::printf("%s\n", e.to_json().c_str());
    else print_evaluation(e, a->run, a->split);
    exit_code = 0;
  });
}

}  // namespace genrenet::cli
