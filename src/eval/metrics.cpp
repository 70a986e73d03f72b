// Accuracy, per-class precision/recall/F1 and the confusion matrix; calibration error; means over seeds or folds.
#include <algorithm>
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

CalibrationReport calibration_report(const std::vector<float>& probabilities, int classes, const std::vector<int>& truth,
                                     int bins) {
  if (classes < 1 || bins < 1) throw Error("calibration report", "needs at least one class and one bin");
  if (probabilities.size() != truth.size() * static_cast<size_t>(classes))
    throw Error("calibration report", "probabilities and true classes differ in number");
  CalibrationReport r;
  r.bins.resize(bins);
  for (int b = 0; b < bins; ++b) r.bins[b].lower = static_cast<double>(b) / bins, r.bins[b].upper = static_cast<double>(b + 1) / bins;
  for (size_t i = 0; i < truth.size(); ++i) {
    const float* row = probabilities.data() + i * classes;
    if (truth[i] < 0 || truth[i] >= classes) throw Error("calibration report", "true class out of range");
    const int top = static_cast<int>(std::max_element(row, row + classes) - row);
    const double confidence = row[top];
    // Bins are (lower, upper]; confidence 0 goes to the first.
    const int b = std::clamp(static_cast<int>(std::ceil(confidence * bins)) - 1, 0, bins - 1);
    ReliabilityBin& bin = r.bins[b];
    ++bin.count;
    bin.confidence += confidence;
    bin.accuracy += top == truth[i];
    r.nll -= std::log(std::max(static_cast<double>(row[truth[i]]), 1e-12));
  }
  const double n = static_cast<double>(truth.size());
  for (auto& bin : r.bins) {
    if (!bin.count) continue;
    bin.confidence /= bin.count, bin.accuracy /= bin.count;
    r.ece += bin.count / n * std::abs(bin.accuracy - bin.confidence);
  }
  if (n > 0) r.nll /= n;
  return r;
}

namespace {

nlohmann::json calibration_json(const CalibrationReport& r) {
  nlohmann::json bins = nlohmann::json::array();
  for (auto& b : r.bins)
    if (b.count) bins.push_back({{"lower", b.lower}, {"upper", b.upper}, {"count", b.count}, {"confidence", b.confidence}, {"accuracy", b.accuracy}});
  return {{"ece", r.ece}, {"nll", r.nll}, {"bins", bins}};
}

}  // namespace

std::string Evaluation::to_json() const {
  nlohmann::json pc = nlohmann::json::array();
  for (auto& m : per_class)
    pc.push_back({{"class", m.name}, {"precision", m.precision}, {"recall", m.recall}, {"f1", m.f1}, {"support", m.support}});
  return nlohmann::json({{"accuracy", accuracy}, {"macro_f1", macro_f1}, {"loss", loss}, {"count", count},
                         {"model", model}, {"epoch", epoch},
                         {"inference_precision", inference_precision}, {"classes", classes}, {"confusion", confusion}, {"per_class", pc},
                         {"calibration", {{"temperature", temperature}, {"uncalibrated", calibration_json(uncalibrated)},
                                          {"calibrated", calibration_json(calibrated)}}}})
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
