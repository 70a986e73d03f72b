#include "features/mel_filterbank.h"

#include <cmath>

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

// torch.linspace for float32: the first half counts up from the start, the second half down from the end.
std::vector<float> linspace_f32(float start, float end, int steps) {
  std::vector<float> v(steps);
  if (steps == 1) return {start};
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int halfway = steps / 2;
  for (int i = 0; i < steps; ++i) v[i] = i < halfway ? start + step * i : end - step * (steps - i - 1);
  return v;
}

float mel_to_hz_f32(float mel, MelScale scale) {
  if (scale == MelScale::Htk) return 700.0f * (std::pow(10.0f, mel / 2595.0f) - 1.0f);
  const float min_log_mel = static_cast<float>(kSlaneyMinLogMel);
  if (mel < min_log_mel) return static_cast<float>(kSlaneyFsp) * mel;
  return static_cast<float>(kSlaneyMinLogHz) * std::exp(static_cast<float>(kSlaneyLogStep) * (mel - min_log_mel));
}

}  // namespace

MelFilterbank MelFilterbank::build(const FeatureOptions& o) {
  MelFilterbank fb;
  fb.n_mels = o.n_mels;
  fb.n_bins = o.n_fft / 2 + 1;
  // torchaudio: the bins' centre frequencies are linspace(0, sample_rate // 2, n_bins); the band edges are
  // n_mels + 2 points equally spaced in mel between f_min and f_max. torchaudio does this arithmetic in
  // float32, and so does this code, in the same order: in double precision the narrow low Slaney bands
  // come out up to 1.2e-3 dB away from torchaudio's, over the parity bound.
  const float nyquist = static_cast<float>(o.audio.sample_rate / 2);
  std::vector<float> bin_hz = linspace_f32(0.f, nyquist, fb.n_bins);
  std::vector<float> edge = linspace_f32(static_cast<float>(hz_to_mel(o.f_min, o.mel_scale)),
                                         static_cast<float>(hz_to_mel(o.effective_f_max(), o.mel_scale)),
                                         o.n_mels + 2);
  for (float& e : edge) e = mel_to_hz_f32(e, o.mel_scale);

  fb.first_bin.resize(o.n_mels);
  fb.offset.assign(o.n_mels + 1, 0);
  for (int m = 0; m < o.n_mels; ++m) {
    const float lo = edge[m], mid = edge[m + 1], hi = edge[m + 2];
    const float enorm = o.mel_norm == MelNorm::Slaney ? 2.0f / (hi - lo) : 1.0f;
    int first = -1;
    std::vector<float> band;
    for (int k = 0; k < fb.n_bins; ++k) {
      float down = (bin_hz[k] - lo) / (mid - lo);  // rising edge
      float up = (hi - bin_hz[k]) / (hi - mid);    // falling edge
      float w = std::max(0.0f, std::min(down, up)) * enorm;
      if (w > 0) {
        if (first < 0) first = k;
        // Bins inside a band are contiguous; zeros between first and last non-zero are kept.
        band.resize(k - first + 1, 0.f);
        band[k - first] = w;
      }
    }
    fb.first_bin[m] = first < 0 ? 0 : first;  // a band narrower than a bin has no weights (as torchaudio)
    fb.offset[m] = static_cast<int>(fb.weights.size());
    fb.weights.insert(fb.weights.end(), band.begin(), band.end());
  }
  fb.offset[o.n_mels] = static_cast<int>(fb.weights.size());
  return fb;
}

std::vector<float> MelFilterbank::dense() const {
  std::vector<float> d(static_cast<size_t>(n_mels) * n_bins, 0.f);
  for (int m = 0; m < n_mels; ++m)
    for (int i = offset[m]; i < offset[m + 1]; ++i)
      d[static_cast<size_t>(m) * n_bins + first_bin[m] + (i - offset[m])] = weights[i];
  return d;
}

}  // namespace genrenet::features
