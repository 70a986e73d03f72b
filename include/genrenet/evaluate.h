// genrenet's evaluation stage (src/eval/metrics.cpp, plots.cpp): accuracy, per-class precision, recall and F1,
// the confusion matrix and its picture, the calibration error and the reliability diagram, means over seeds
// or folds. Needs no LibTorch headers. (A run folder's evaluation, `evaluate_run`, and its calibration,
// `calibrate_run`, are in genrenet/train.h: they read the run's training config.)
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <genrenet/genrenet.h>

namespace genrenet {

struct ClassMetrics {
  std::string name;
  double precision = 0, recall = 0, f1 = 0;
  int support = 0;
};

// How well probabilities match frequencies (Guo et al., 2017): the answers binned by their confidence (the
// top probability) into equal-width bins of [0, 1]; per bin the mean confidence and the accuracy. The
// expected calibration error is the bins' |accuracy - confidence| weighted by their share of the answers.
struct ReliabilityBin {
  double lower = 0, upper = 0;
  int count = 0;
  double confidence = 0, accuracy = 0;  // means over the bin's answers (0 when empty)
};
struct CalibrationReport {
  double ece = 0;  // expected calibration error
  double nll = 0;  // mean negative log-likelihood of the true class
  std::vector<ReliabilityBin> bins;
};
// `probabilities` holds truth.size() rows of `classes` values each (a row sums to 1). 15 bins by default.
CalibrationReport calibration_report(const std::vector<float>& probabilities, int classes, const std::vector<int>& truth,
                                     int bins = 15);
// The reliability diagram: accuracy against confidence per bin, before (temperature 1) and after
// calibration, the diagonal of perfect calibration, and the ECE of each in the legend.
void plot_reliability(const std::filesystem::path& png, const CalibrationReport& before, const CalibrationReport& after,
                      const std::string& title = "");

struct Evaluation {
  std::vector<std::string> classes;
  std::vector<std::vector<int>> confusion;  // [true][predicted]
  double accuracy = 0, macro_f1 = 0, loss = 0;
  int count = 0;
  std::vector<ClassMetrics> per_class;
  std::string model;  // which of a run's models was evaluated ("best" or "last"; "" when not from a run)
  int epoch = 0;      // the epoch that model was saved at (0: unknown)
  std::string inference_precision;  // what the network ran in ("fp32", "bf16", "int8", ...)
  // The probabilities judged above are softmax(logits / temperature) (1: the model is not calibrated, or
  // calibration was turned off); `uncalibrated` is the same answers at temperature 1.
  double temperature = 1;
  CalibrationReport uncalibrated, calibrated;
  std::string to_json() const;
};

Evaluation evaluate_predictions(const std::vector<int>& truth, const std::vector<int>& predicted,
                                const std::vector<std::string>& classes);
// The confusion matrix as a heat map with class names (the paper's Fig. 4).
void plot_confusion(const std::filesystem::path& png, const Evaluation& e, const std::string& title = "");

// Mean and sample standard deviation of accuracies over seeds or folds (std 0 for a single value).
struct MeanStd {
  double mean = 0, std = 0;
};
MeanStd mean_and_std(const std::vector<double>& values);

}  // namespace genrenet
