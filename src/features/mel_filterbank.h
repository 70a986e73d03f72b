// The triangular mel filterbank of torchaudio.functional.melscale_fbanks, stored sparsely: each mel band
// touches a short run of FFT bins, so applying it costs ~2 multiply-adds per bin instead of n_mels.
#pragma once

#include <vector>

#include <genrenet/genrenet.h>

namespace genrenet::features {

double hz_to_mel(double hz, MelScale scale);
double mel_to_hz(double mel, MelScale scale);

struct MelFilterbank {
  int n_mels = 0;
  int n_bins = 0;                 // n_fft/2 + 1
  std::vector<int> first_bin;     // per band: first bin with a non-zero weight
  std::vector<int> offset;        // per band: index of its first weight in `weights` (n_mels + 1 entries)
  std::vector<float> weights;

  static MelFilterbank build(const FeatureOptions& opts);
  std::vector<float> dense() const;  // [n_mels][n_bins]
};

}  // namespace genrenet::features
