// Accuracy, per-class precision/recall/F1 and the confusion matrix; means over seeds or folds.
#include <cmath>

#include <nlohmann/json.hpp>

#include <genrenet/evaluate.h>

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

MeanStd mean_and_std(const std::vector<double>& v) {
  MeanStd r;
  for (double x : v) r.mean += x / v.size();
  if (v.size() < 2) return r;
  double s = 0;
  for (double x : v) s += (x - r.mean) * (x - r.mean);
  r.std = std::sqrt(s / (v.size() - 1));
  return r;
}

}  // namespace genrenet
