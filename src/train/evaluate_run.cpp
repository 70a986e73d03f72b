// A run folder's evaluation: its model on a subset of its split, windows averaged as predict does, written
// beside the run (eval-<subset>.json, confusion-<subset>.png).
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include <genrenet/train.h>

#include "eval/inference.h"
#include "eval/windowed_scorer.h"
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
  for (const auto& line : run.recover()) std::fprintf(stderr, "note: %s: %s\n", run.root().c_str(), line.c_str());
}

}  // namespace

Evaluation evaluate_run(const std::filesystem::path& run_path, const std::string& subset, const std::string& model_choice,
                        const std::string& precision) {
  const io::RunFolder run(run_path);
  if (std::filesystem::is_directory(run_path)) complete_interrupted_commit(run);  // else config.json's error names it
  TrainConfig config = TrainConfig::from_json(io::read_text_file(run.config()));
  const std::string which = model_choice.empty() ? config.test_model : model_choice;
  if (which != "best" && which != "last") throw Error("--model", "must be best or last");
  const Split split = Split::from_json(io::read_text_file(run.split()));
  const std::vector<std::string>& ids = split.subset(subset);
  if (ids.empty()) throw Error(run_path.string(), "the " + subset + " subset of this run's split is empty");
  ModelFile mf = read_model_file(which == "best" ? run.best_model() : run.last_model());
  const int batch = 16;
  const InferenceNet net =
      make_inference_net(mf, {config.device, precision.empty() ? config.precision : precision, config.threads}, batch);

  Dataset data = scan_dataset(config.data);
  if (data.classes != mf.classes) throw Error(config.data, "its classes differ from the model's");
  const SplitClips clips = find_clips(data, ids);
  std::vector<std::filesystem::path> files;
  for (auto& c : clips.clips) files.push_back(c.path);
  FeatureCache cache(config.cache.empty() ? default_feature_cache_dir() : std::filesystem::path(config.cache), mf.features);
  auto loaded = cache.load(files, 0, "features (" + subset + ")");
  // Clips longer than the model input are judged on windows of it every half input, their probabilities
  // averaged (test-time averaging, as `predict` does); shorter ones are one padded input, as in training.
  std::vector<AudioWindows> audios;
  std::vector<int> truth;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!loaded.errors[i].empty()) {
      std::fprintf(stderr, "warning: skipped unreadable clip: %s\n", loaded.errors[i].c_str());
      continue;
    }
    audios.push_back(cut_windows(std::move(loaded.spectrograms[i]), mf.features, mf.features.frames, mf.features.frames / 2));
    truth.push_back(clips.clips[i].label);
  }
  if (audios.empty()) throw Error(run_path.string(), "no clip of the " + subset + " subset could be read");
  const torch::Tensor probs = score_windows(net, audios, batch).mean;
  const torch::Tensor pred = probs.argmax(1);
  std::vector<int> predicted(pred.size(0));
  for (int64_t i = 0; i < pred.size(0); ++i) predicted[i] = static_cast<int>(pred[i].item<int64_t>());
  Evaluation e = evaluate_predictions(truth, predicted, mf.classes);
  e.model = which;
  e.inference_precision = precision_name(net.precision());
  e.epoch = saved_epoch(mf);
  const torch::Tensor t = torch::tensor(std::vector<int64_t>(truth.begin(), truth.end()));
  e.loss = -probs.gather(1, t.unsqueeze(1)).clamp_min(1e-12).log().mean().item<double>();
  write_evaluation(run, subset, e);
  return e;
}

}  // namespace genrenet
