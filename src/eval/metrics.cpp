// Accuracy, per-class precision/recall/F1 and the confusion matrix; evaluating a run.

#include <nlohmann/json.hpp>

#include <genrenet/train.h>

#include "eval/inference.h"
#include "io/atomic_file.h"
#include "io/run_folder.h"

namespace genrenet {

Evaluation evaluate_predictions(const std::vector<int>& truth, const std::vector<int>& predicted,
                                const std::vector<std::string>& classes) {
  if (truth.size() != predicted.size()) throw Error("evaluation", "truth and predictions differ in length");
  const int k = static_cast<int>(classes.size());
  Evaluation e;
  e.classes = classes;
  e.count = static_cast<int>(truth.size());
  e.confusion.assign(k, std::vector<int>(k, 0));
  int correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0 || truth[i] >= k || predicted[i] < 0 || predicted[i] >= k) throw Error("evaluation", "label out of range");
    ++e.confusion[truth[i]][predicted[i]];
    correct += truth[i] == predicted[i];
  }
  e.accuracy = e.count ? static_cast<double>(correct) / e.count : 0;
  double f1_sum = 0;
  for (int c = 0; c < k; ++c) {
    int tp = e.confusion[c][c], support = 0, predicted_c = 0;
    for (int j = 0; j < k; ++j) {
      support += e.confusion[c][j];
      predicted_c += e.confusion[j][c];
    }
    ClassMetrics m{classes[c], predicted_c ? double(tp) / predicted_c : 0, support ? double(tp) / support : 0, 0, support};
    m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0;
    f1_sum += m.f1;
    e.per_class.push_back(m);
  }
  e.macro_f1 = k ? f1_sum / k : 0;
  return e;
}

std::string Evaluation::to_json() const {
  nlohmann::json pc = nlohmann::json::array();
  for (auto& m : per_class)
    pc.push_back({{"class", m.name}, {"precision", m.precision}, {"recall", m.recall}, {"f1", m.f1}, {"support", m.support}});
  return nlohmann::json({{"accuracy", accuracy}, {"macro_f1", macro_f1}, {"loss", loss}, {"count", count},
                         {"model", model}, {"epoch", epoch},
                         {"inference_precision", inference_precision}, {"classes", classes}, {"confusion", confusion}, {"per_class", pc}})
      .dump(1);
}

Evaluation evaluate_run(const std::filesystem::path& run_path, const std::string& subset, const std::string& model_choice,
                        const std::string& precision) {
  const io::RunFolder run(run_path);
  TrainConfig config = TrainConfig::from_json(io::read_text_file(run.config()));
  const std::string which = model_choice.empty() ? config.test_model : model_choice;
  if (which != "best" && which != "last") throw Error("--model", "must be best or last");
  Split split = Split::from_json(io::read_text_file(run.split()));
  const std::vector<std::string>* ids = subset == "test" ? &split.test : subset == "valid" ? &split.valid
                                        : subset == "train" ? &split.train : nullptr;
  if (!ids) throw Error("--split", "must be train, valid or test");
  if (ids->empty()) throw Error(run_path.string(), "the " + subset + " subset of this run's split is empty");
  ModelFile mf = read_model_file(which == "best" ? run.best_model() : run.last_model());
  const int batch = 16;
  const InferenceNet net =
      make_inference_net(mf, {config.device, precision.empty() ? config.precision : precision, config.threads}, batch);

  Dataset data = scan_dataset(config.data);
  if (data.classes != mf.classes) throw Error(config.data, "its classes differ from the model's");
  std::map<std::string, const Clip*> by_id;
  for (auto& c : data.clips) by_id[c.id] = &c;
  std::vector<std::filesystem::path> files;
  std::vector<int> truth;
  for (auto& id : *ids)
    if (auto it = by_id.find(id); it != by_id.end()) {
      files.push_back(it->second->path);
      truth.push_back(it->second->label);
    }
  FeatureCache cache(config.cache.empty() ? default_feature_cache_dir() : std::filesystem::path(config.cache), mf.features);
  auto loaded = cache.load(files, 0, "features (" + subset + ")");
  // Clips longer than the model input are judged on windows of it every half input, their probabilities
  // averaged (test-time averaging, as `predict` does); shorter ones are one padded input, as in training.
  std::vector<Spectrogram> inputs;
  std::vector<int> kept_truth;
  std::vector<int64_t> first{0};
  for (size_t i = 0; i < files.size(); ++i) {
    if (!loaded.errors[i].empty()) {
      std::fprintf(stderr, "warning: skipped unreadable clip: %s\n", loaded.errors[i].c_str());
      continue;
    }
    for (auto& w : window_inputs(loaded.spectrograms[i], mf.features, mf.features.frames, mf.features.frames / 2))
      inputs.push_back(std::move(w));
    first.push_back(static_cast<int64_t>(inputs.size()));
    kept_truth.push_back(truth[i]);
  }
  torch::Tensor window_probs = class_probabilities(net, inputs, batch);
  std::vector<torch::Tensor> per_clip;
  for (size_t k = 0; k + 1 < first.size(); ++k) per_clip.push_back(window_probs.narrow(0, first[k], first[k + 1] - first[k]).mean(0));
  torch::Tensor probs = torch::stack(per_clip);
  torch::Tensor pred = probs.argmax(1);
  std::vector<int> predicted(pred.size(0));
  for (int64_t i = 0; i < pred.size(0); ++i) predicted[i] = static_cast<int>(pred[i].item<int64_t>());
  Evaluation e = evaluate_predictions(kept_truth, predicted, mf.classes);
  e.model = which;
  e.inference_precision = precision_name(net.precision());
  try {
    e.epoch = nlohmann::json::parse(mf.training_json).value("epoch", 0);
  } catch (const nlohmann::json::exception&) {
    e.epoch = 0;  // a model file written by hand: the epoch is unknown, the evaluation stands
  }
  torch::Tensor t = torch::tensor(std::vector<int64_t>(kept_truth.begin(), kept_truth.end()));
  e.loss = -probs.gather(1, t.unsqueeze(1)).clamp_min(1e-12).log().mean().item<double>();
  io::write_file_atomically(run.evaluation(subset), e.to_json());
  char title[160];
  std::snprintf(title, sizeof title, "Confusion matrix, %s (%d clips, accuracy %.1f%%)", subset.c_str(), e.count,
                100 * e.accuracy);
  plot_confusion(run.confusion(subset), e, title);
  return e;
}

}  // namespace genrenet
