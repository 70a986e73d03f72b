// The paper's experiments in one command: a folder of configs, each run for several seeds, one table.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include <genrenet/experiments.h>

#include "common/log.h"
#include "io/atomic_file.h"
#include "io/run_folder.h"
#include "train/config_file.h"

namespace genrenet {
namespace {

struct RunOutcome {
  double accuracy = 0, seconds_per_epoch = 0;
  int epochs = 0;
};

// One training run (one seed, one fold): skipped when its test.json exists, resumed when it has a
// checkpoint, trained otherwise; then tested.
RunOutcome run_one(const TrainConfig& c, const std::atomic<bool>* stop) {
  const io::RunFolder folder(c.out);
  const std::filesystem::path done = folder.experiment_test();
  if (std::filesystem::exists(done)) {
    auto j = nlohmann::json::parse(io::read_text_file(done));
    logf(LogLevel::Result, "  %s: finished before (test accuracy %.4f)", c.out.c_str(), j.at("accuracy").get<double>());
    return {j.at("accuracy").get<double>(), j.at("seconds_per_epoch").get<double>(), j.at("epochs").get<int>()};
  }
  // Trained, calibrated and tested as `genrenet train` does (other processes of a data-parallel run test too).
  const TestedRun t = train_and_test(c, RunControl{folder.has_finished_epoch(), false, stop});
  const TrainResult& r = t.training;
  if (r.interrupted) throw Error(c.out, "interrupted; run the same command again to resume");
  const Evaluation e = t.test ? *t.test : evaluate_run(folder.root(), "test");
  RunOutcome o;
  o.accuracy = e.accuracy;
  o.epochs = static_cast<int>(r.history.size());
  for (auto& m : r.history) o.seconds_per_epoch += m.seconds / r.history.size();
  io::write_file_atomically(done, nlohmann::json({{"accuracy", o.accuracy}, {"epochs", o.epochs},
                                                  {"seconds_per_epoch", o.seconds_per_epoch}}).dump(1));
  return o;
}

}  // namespace

Experiment read_experiment(const std::filesystem::path& file) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(config_file_as_json(file));
  } catch (const nlohmann::json::exception& e) {
    throw Error(file.string(), std::string("not valid JSON: ") + e.what());
  }
  Experiment x;
  x.name = file.stem().string();
  if (j.contains("experiment")) {
    const auto& e = j["experiment"];
    try {
      for (auto& [k, v] : e.items())
        if (k != "title" && k != "paper" && k != "paper_accuracy" && k != "interpretation")
          throw Error(file.string(), "unknown experiment key \"" + k + "\" (title, paper, paper_accuracy, interpretation)");
      x.title = e.value("title", x.name);
      x.paper = e.value("paper", "");
      x.paper_accuracy = e.value("paper_accuracy", -1.0);
      x.interpretation = e.value("interpretation", "");
    } catch (const nlohmann::json::exception& err) {
      throw Error(file.string(), std::string("experiment table: ") + err.what());
    }
    j.erase("experiment");
  } else {
    x.title = x.name;
  }
  try {
    x.config = TrainConfig::from_json(j.dump());
  } catch (const Error& e) {
    throw Error(file.string(), e.what());
  }
  return x;
}

std::vector<Experiment> read_experiments(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) throw Error(dir.string(), "no such folder of experiment configs");
  std::vector<std::filesystem::path> files;
  for (auto& f : std::filesystem::directory_iterator(dir))
    if (f.is_regular_file() && (f.path().extension() == ".toml" || f.path().extension() == ".json")) files.push_back(f.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw Error(dir.string(), "holds no .toml or .json experiment configs");
  std::vector<Experiment> out;
  for (auto& f : files) out.push_back(read_experiment(f));
  return out;
}

std::vector<ExperimentResult> run_experiments(const std::filesystem::path& dir, const ExperimentOptions& o) {
  if (o.data.empty()) throw Error("experiments option data", "the dataset folder is required");
  if (o.seeds < 1 || o.seeds > 100) throw Error("experiments option seeds", "must be in [1, 100]");
  if (o.first_seed < 1 || o.first_seed > 1000000) throw Error("experiments option first_seed", "must be in [1, 1000000]");
  std::vector<Experiment> all = read_experiments(dir);
  std::set<std::string> names;
  for (auto& x : all) names.insert(x.name);
  for (auto& n : o.only)
    if (!names.count(n)) throw Error("experiments option only", "no experiment named \"" + n + "\" in " + dir.string());
  std::vector<ExperimentResult> results;
  for (auto& x : all) {
    if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), x.name) == o.only.end()) continue;
    ExperimentResult r;
    r.experiment = x;
    TrainConfig c = x.config;
    c.data = o.data;
    if (!o.split.empty()) c.split = o.split;
    if (!o.split_dir.empty()) c.split_dir = o.split_dir;
    if (!o.cache.empty()) c.cache = o.cache;
    if (o.epochs > 0) c.epochs = o.epochs;
    if (o.pretrained == "none") c.pretrained.clear();
    else if (!o.pretrained.empty()) c.pretrained = o.pretrained;
    if (!o.precision.empty()) c.precision = o.precision;
    r.experiment.config = c;
    std::vector<double> seconds;
    for (int seed = o.first_seed; seed < o.first_seed + o.seeds; ++seed) {
      logf(LogLevel::Result, "== %s (%s), seed %d (%d of %d) ==", x.name.c_str(), x.title.c_str(), seed,
           seed - o.first_seed + 1, o.seeds);
      std::vector<double> fold_acc;
      TrainConfig seeded = c;
      seeded.seed = static_cast<unsigned>(seed);
      seeded.out = (std::filesystem::path(o.out) / x.name / ("seed-" + std::to_string(seed))).string();
      for (const TrainConfig& run : fold_runs(seeded)) {
        RunOutcome one = run_one(run, o.stop);
        fold_acc.push_back(one.accuracy);
        seconds.push_back(one.seconds_per_epoch);
        r.epochs = one.epochs;
      }
      r.accuracy.push_back(mean_and_std(fold_acc).mean);
    }
    const MeanStd over_seeds = mean_and_std(r.accuracy);
    r.mean = over_seeds.mean;
    r.std = over_seeds.std;
    r.seconds_per_epoch = mean_and_std(seconds).mean;
    results.push_back(r);
    // The table so far, so that a long run shows its results as it goes.
    io::write_file_atomically(std::filesystem::path(o.out) / "RESULTS.md", experiments_markdown(results, o));
  }
  return results;
}

std::string experiments_markdown(const std::vector<ExperimentResult>& results, const ExperimentOptions& o) {
  std::string s = "| experiment | paper | paper's accuracy | genrenet (mean ± std) | seeds | epochs | s/epoch | reading of the paper |\n"
                  "|---|---|---|---|---|---|---|---|\n";
  char buf[2048];
  for (auto& r : results) {
    const auto& x = r.experiment;
    char paper_acc[32] = "—";
    if (x.paper_accuracy >= 0) std::snprintf(paper_acc, sizeof paper_acc, "%.4g%%", 100 * x.paper_accuracy);
    std::snprintf(buf, sizeof buf, "| %s | %s | %s | %.1f%% ± %.1f | %zu | %d | %.1f | %s |\n", x.title.c_str(),
                  x.paper.c_str(), paper_acc, 100 * r.mean, 100 * r.std, r.accuracy.size(), r.epochs,
                  r.seconds_per_epoch, x.interpretation.c_str());
    s += buf;
  }
  const std::string split = results.empty() ? TrainConfig{}.split : results.front().experiment.config.split;
  s += "\nData: `" + o.data + "`, split `" + split + "`" +
       (kfold_count(split) ? " (each seed: the mean over its folds)" : "") +
       ", test accuracy of each config's test model (the best-validation epoch's unless it says test_model = "
       "\"last\"); mean ± sample standard deviation over seeds " + std::to_string(o.first_seed) + ".." +
       std::to_string(o.first_seed + o.seeds - 1) + ".";
  if (o.pretrained == "none") s += " Trained from scratch (`--pretrained none`): no ImageNet weights.";
  if (o.epochs > 0) s += " Epochs replaced by " + std::to_string(o.epochs) + " (`--epochs`).";
  return s + "\n";
}

}  // namespace genrenet
