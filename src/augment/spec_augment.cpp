// SpecAugment (Park et al., 2019) on one standardised spectrogram: time warping, then frequency and time
// masks. Masked cells are set to mask_value (default 0: the spectrogram's mean after standardisation,
// what the paper calls "set to zero").
#include <algorithm>
#include <cmath>

#include <genrenet/genrenet.h>

#include "common/option_tables.h"

namespace genrenet {

const options::Table<SpecAugmentOptions>& spec_augment_options_table() {
  using O = SpecAugmentOptions;
  static const options::Table<O> table = [] {
    options::Table<O> t("specaugment option", "SpecAugment");
    t.integer("freq_masks", &O::freq_masks, {0, 100}, "Frequency masks per sample", "--freq-masks");
    t.integer("freq_mask_width", &O::freq_mask_width, {0, 100000}, "F: each frequency mask is up to F bins wide", "--freq-mask");
    t.integer("time_masks", &O::time_masks, {0, 100}, "Time masks per sample", "--time-masks");
    t.integer("time_mask_width", &O::time_mask_width, {0, 1000000}, "T: each time mask is up to T frames wide", "--time-mask");
    t.integer("time_warp", &O::time_warp, {0, 100000}, "W: a random frame moves by up to W frames (0: no warping)", "--time-warp");
    t.number("mask_value", &O::mask_value, {-1e6, 1e6}, "The value of masked cells (0: a standardised spectrogram's mean)");
    return t;
  }();
  return table;
}

void SpecAugmentOptions::validate() const { spec_augment_options_table().validate(*this); }

SpecAugmentReport spec_augment(Spectrogram& s, const SpecAugmentOptions& o, std::mt19937& rng) {
  SpecAugmentReport report;
  const int F = s.n_mels, T = s.n_frames;
  // Time warping: a random frame t0 in [W, T - W) moves to t0 + w, w uniform in [-W, W]; the frames on
  // each side are stretched or squeezed linearly (linear interpolation between neighbouring frames).
  // The mapping is monotone, so the order of events in time is kept.
  if (o.time_warp > 0 && T > 2 * o.time_warp + 1) {
    const int W = o.time_warp;
    const int t0 = std::uniform_int_distribution<int>(W, T - W - 1)(rng);
    const int w = std::uniform_int_distribution<int>(-W, W)(rng);
    const int t1 = t0 + w;  // where t0 lands
    report.warp_from = t0;
    report.warp_to = t1;
    if (w != 0) {
      std::vector<float> row(T);
      for (int m = 0; m < F; ++m) {
        float* r = s.data.data() + static_cast<size_t>(m) * T;
        std::copy(r, r + T, row.begin());
        for (int t = 0; t < T; ++t) {
          // Source position of output frame t.
          double src = t <= t1 ? (t1 > 0 ? static_cast<double>(t) * t0 / t1 : 0.0)
                               : t0 + static_cast<double>(t - t1) * (T - 1 - t0) / std::max(1, T - 1 - t1);
          int i = std::clamp(static_cast<int>(src), 0, T - 1);
          int j = std::min(i + 1, T - 1);
          double a = src - i;
          r[t] = static_cast<float>((1 - a) * row[i] + a * row[j]);
        }
      }
    }
  }
  auto mask = [&](int count, int max_width, int extent, bool freq) {
    for (int k = 0; k < count; ++k) {
      const int width = std::uniform_int_distribution<int>(0, std::min(max_width, extent))(rng);
      const int start = std::uniform_int_distribution<int>(0, extent - width)(rng);
      (freq ? report.freq_masks : report.time_masks).push_back({start, width});
      for (int a = start; a < start + width; ++a)
        if (freq) std::fill_n(s.data.data() + static_cast<size_t>(a) * T, T, o.mask_value);
        else
          for (int m = 0; m < F; ++m) s.data[static_cast<size_t>(m) * T + a] = o.mask_value;
    }
  };
  mask(o.freq_masks, o.freq_mask_width, F, true);
  mask(o.time_masks, o.time_mask_width, T, false);
  return report;
}

}  // namespace genrenet
