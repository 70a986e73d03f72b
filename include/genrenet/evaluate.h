// genrenet's evaluation stage (src/eval/metrics.cpp, plots.cpp): accuracy, per-class precision, recall and F1,
// the confusion matrix and its picture, means over seeds or folds. Needs no LibTorch headers. (A run folder's
// evaluation, `evaluate_run`, is in genrenet/train.h: it reads the run's training config.)
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

struct Evaluation {
  std::vector<std::string> classes;
  std::vector<std::vector<int>> confusion;  // [true][predicted]
  double accuracy = 0, macro_f1 = 0, loss = 0;
  int count = 0;
  std::vector<ClassMetrics> per_class;
  std::string model;  // which of a run's models was evaluated ("best" or "last"; "" when not from a run)
  int epoch = 0;      // the epoch that model was saved at (0: unknown)
  std::string inference_precision;  // what the network ran in ("fp32", "bf16", "int8", ...)
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
