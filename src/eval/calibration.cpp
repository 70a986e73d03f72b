#include "eval/calibration.h"

#include <algorithm>
#include <cmath>

namespace genrenet {
namespace {

double mean_nll(const torch::Tensor& probabilities, const torch::Tensor& truth) {
  return -probabilities.gather(1, truth.unsqueeze(1)).clamp_min(1e-12).log().mean().item<double>();
}

}  // namespace

CalibrationReport calibration_report(const torch::Tensor& probabilities, const std::vector<int>& truth, int bins) {
  const torch::Tensor p = probabilities.to(torch::kFloat32).contiguous();
  std::vector<float> rows(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
  return calibration_report(rows, static_cast<int>(p.size(1)), truth, bins);
}

double fit_temperature(const WindowProbabilities& scored, const std::vector<int>& truth, double prior_sigma) {
  if (truth.empty()) throw Error("temperature", "no clips to fit it on");
  const torch::Tensor y = torch::tensor(std::vector<int64_t>(truth.begin(), truth.end()));
  const double prior_weight = 1.0 / (2 * prior_sigma * prior_sigma * static_cast<double>(truth.size()));
  auto nll = [&](double log_t) {
    return mean_nll(at_temperature(scored, std::exp(log_t)).mean, y) + prior_weight * log_t * log_t;
  };
  // Golden-section search: 60 steps narrow [log 0.05, log 20] to under 1e-12.
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = std::log(0.05), b = std::log(20.0);
  double c = b - g * (b - a), d = a + g * (b - a);
  double fc = nll(c), fd = nll(d);
  for (int i = 0; i < 60; ++i) {
    if (fc < fd) {
      b = d, d = c, fd = fc;
      c = b - g * (b - a), fc = nll(c);
    } else {
      a = c, c = d, fc = fd;
      d = a + g * (b - a), fd = nll(d);
    }
  }
  return std::exp((a + b) / 2);
}

double energy_threshold(std::vector<double> energies, double tpr) {
  if (energies.empty()) throw Error("energy threshold", "no clips to choose it on");
  if (!(tpr > 0 && tpr <= 1)) throw Error("energy threshold", "the share kept must be in (0, 1]");
  std::sort(energies.begin(), energies.end());
  const auto n = static_cast<double>(energies.size());
  const size_t k = static_cast<size_t>(std::max(1.0, std::ceil(tpr * n - 1e-9)));
  return energies[std::min(k, energies.size()) - 1];
}

ConfidenceCalibration fit_calibration(const WindowProbabilities& scored, const std::vector<int>& truth, double energy_tpr) {
  if (static_cast<int64_t>(truth.size()) + 1 != static_cast<int64_t>(scored.first.size()))
    throw Error("calibration", "clips and true classes differ in number");
  ConfidenceCalibration c;
  c.clips = static_cast<int>(truth.size());
  c.temperature = fit_temperature(scored, truth);
  const WindowProbabilities raw = at_temperature(scored, 1), fitted = at_temperature(scored, c.temperature);
  const CalibrationReport before = calibration_report(raw.mean, truth), after = calibration_report(fitted.mean, truth);
  c.nll_before = before.nll, c.nll_after = after.nll;
  c.ece_before = before.ece, c.ece_after = after.ece;
  const torch::Tensor e = raw.energy.to(torch::kFloat64).contiguous();
  c.energy_tpr = energy_tpr;
  c.energy_threshold = energy_threshold(std::vector<double>(e.data_ptr<double>(), e.data_ptr<double>() + e.numel()), energy_tpr);
  return c;
}

}  // namespace genrenet
