#include "features/mel_filterbank.h"

#include <cmath>

#include <torch/torch.h>

namespace genrenet::features {

// Slaney's scale (as librosa and torchaudio): linear below 1 kHz, logarithmic above.
namespace {
constexpr double kSlaneyFsp = 200.0 / 3;
constexpr double kSlaneyMinLogHz = 1000.0;
constexpr double kSlaneyMinLogMel = kSlaneyMinLogHz / kSlaneyFsp;  // 15
const double kSlaneyLogStep = std::log(6.4) / 27.0;
}  // namespace

double hz_to_mel(double hz, MelScale scale) {
  if (scale == MelScale::Htk) return 2595.0 * std::log10(1.0 + hz / 700.0);
  if (hz < kSlaneyMinLogHz) return hz / kSlaneyFsp;
  return kSlaneyMinLogMel + std::log(hz / kSlaneyMinLogHz) / kSlaneyLogStep;
}

double mel_to_hz(double mel, MelScale scale) {
  if (scale == MelScale::Htk) return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
  if (mel < kSlaneyMinLogMel) return mel * kSlaneyFsp;
  return kSlaneyMinLogHz * std::exp(kSlaneyLogStep * (mel - kSlaneyMinLogMel));
}

namespace {

// torchaudio.functional._mel_to_hz, on a float32 tensor as torchaudio computes it.
torch::Tensor mel_to_hz_tensor(const torch::Tensor& mels, MelScale scale) {
  if (scale == MelScale::Htk) return 700.0 * (torch::pow(10.0, mels / 2595.0) - 1.0);
  torch::Tensor freqs = 0.0 + kSlaneyFsp * mels;
  torch::Tensor log_t = mels >= kSlaneyMinLogMel;
  torch::Tensor log_part = kSlaneyMinLogHz * torch::exp(kSlaneyLogStep * (mels - kSlaneyMinLogMel));
  return torch::where(log_t, log_part, freqs);
}

}  // namespace

MelFilterbank MelFilterbank::build(const FeatureOptions& o) {
  // torchaudio.functional.melscale_fbanks, written with the same ATen operations in the same order and
  // precision (float32). A double-precision version of the same formulas differs from torchaudio by up to
  // 0.5% on the small weights of the triangles' flanks, which moved loud bins by 1e-3 dB.
  torch::NoGradGuard no_grad;
  const int n_freqs = o.n_fft / 2 + 1;
  torch::Tensor all_freqs = torch::linspace(0, o.audio.sample_rate / 2, n_freqs);
  const double m_min = hz_to_mel(o.f_min, o.mel_scale), m_max = hz_to_mel(o.effective_f_max(), o.mel_scale);
  torch::Tensor m_pts = torch::linspace(m_min, m_max, o.n_mels + 2);
  torch::Tensor f_pts = mel_to_hz_tensor(m_pts, o.mel_scale);
  torch::Tensor f_diff = f_pts.slice(0, 1) - f_pts.slice(0, 0, -1);
  torch::Tensor slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1);  // [n_freqs, n_mels + 2]
  torch::Tensor down = (-1.0 * slopes.slice(1, 0, -2)) / f_diff.slice(0, 0, -1);
  torch::Tensor up = slopes.slice(1, 2) / f_diff.slice(0, 1);
  torch::Tensor fb = torch::clamp_min(torch::min(down, up), 0.0);  // [n_freqs, n_mels]
  if (o.mel_norm == MelNorm::Slaney) {
    torch::Tensor enorm = 2.0 / (f_pts.slice(0, 2, o.n_mels + 2) - f_pts.slice(0, 0, o.n_mels));
    fb = fb * enorm.unsqueeze(0);
  }
  fb = fb.t().contiguous();  // [n_mels, n_freqs]
  const float* w = fb.data_ptr<float>();

  MelFilterbank bank;
  bank.n_mels = o.n_mels;
  bank.n_bins = n_freqs;
  bank.first_bin.assign(o.n_mels, 0);
  bank.offset.assign(o.n_mels + 1, 0);
  for (int m = 0; m < o.n_mels; ++m) {
    const float* row = w + static_cast<size_t>(m) * n_freqs;
    int first = 0, last = -1;  // the run of bins from the first to the last non-zero weight
    for (int k = 0; k < n_freqs; ++k)
      if (row[k] > 0) {
        if (last < 0) first = k;
        last = k;
      }
    bank.first_bin[m] = first;  // a band narrower than a bin has no weights (as in torchaudio)
    bank.offset[m] = static_cast<int>(bank.weights.size());
    if (last >= 0) bank.weights.insert(bank.weights.end(), row + first, row + last + 1);
  }
  bank.offset[o.n_mels] = static_cast<int>(bank.weights.size());
  return bank;
}

std::vector<float> MelFilterbank::dense() const {
  std::vector<float> d(static_cast<size_t>(n_mels) * n_bins, 0.f);
  for (int m = 0; m < n_mels; ++m)
    for (int i = offset[m]; i < offset[m + 1]; ++i)
      d[static_cast<size_t>(m) * n_bins + first_bin[m] + (i - offset[m])] = weights[i];
  return d;
}

}  // namespace genrenet::features
