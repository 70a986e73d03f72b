// Fitting a ConfidenceCalibration (genrenet/model.h) on scored clips whose true classes are known: the
// temperature that minimises their negative log-likelihood and the energy threshold at a stated share of
// them. One place for the rule, used by `calibrate_run` (and tested against a brute-force search).
#pragma once

#include <vector>

#include <genrenet/evaluate.h>
#include <genrenet/model.h>
#include <genrenet/weights.h>

#include "infer/windowed_scorer.h"

namespace genrenet {

// The temperature in [0.05, 20] that minimises the mean NLL of the window-averaged probabilities
// softmax(logits / T) plus a weak prior, log T ~ N(0, prior_sigma^2): the objective is
// NLL(T) + (log T)^2 / (2 prior_sigma^2 n) for n clips, the maximum a posteriori temperature. Without the
// prior a handful of validation clips that are all (or all but one) right drive T to the search's lower
// bound: every answer becomes certain (seen on gtzan-sample folds with 8 validation clips: T = 0.05). With
// hundreds of clips the prior hardly moves the fit. Golden-section search over log T (the NLL of one window
// is convex in 1/T, and the averages of a few windows stay unimodal in practice).
constexpr double kTemperaturePriorSigma = 1.0;
double fit_temperature(const WindowProbabilities& scored, const std::vector<int>& truth,
                       double prior_sigma = kTemperaturePriorSigma);

// The smallest energy that at least `tpr` of `energies` do not exceed (with n clips, the ceil(tpr * n)-th
// smallest): the out-of-distribution threshold that keeps that share of in-distribution clips.
double energy_threshold(std::vector<double> energies, double tpr);

// The calibration of scored clips (`scored` at any temperature; its logits are used): temperature, energy
// threshold, and NLL and ECE before and after.
ConfidenceCalibration fit_calibration(const WindowProbabilities& scored, const std::vector<int>& truth, double energy_tpr);

// A [n, classes] probability tensor as calibration_report's rows.
CalibrationReport calibration_report(const torch::Tensor& probabilities, const std::vector<int>& truth, int bins = 15);

}  // namespace genrenet
