#include "features/batched_fft.h"

#include <cmath>
#include <numbers>
#include <utility>

#include <genrenet/genrenet.h>

#include "features/simd.h"


namespace genrenet::features {
namespace {

constexpr int B = BatchedPowerSpectrum::kBatch;

// One radix-2 Stockham stage on a sequence of current length `len` with stride `s` (len * s = m):
//   y[q + s(2p)]   = x[q + sp] + x[q + s(p + len/2)]
//   y[q + s(2p+1)] = (x[q + sp] - x[q + s(p + len/2)]) * w^p,   w = exp(-2 pi i / len)
// Each "element" is B lanes; for fixed p the q-range is contiguous, so the inner loop runs over s * B floats.
GENRENET_SIMD_CLONES
void stockham_stage(const float* __restrict xr, const float* __restrict xi, float* __restrict yr,
                    float* __restrict yi, int len, int s, const float* __restrict twr,
                    const float* __restrict twi, int tw_stride) {
  const int half = len / 2;
  const int run = s * B;
  for (int p = 0; p < half; ++p) {
    const float wr = twr[p * tw_stride], wi = twi[p * tw_stride];
    const float* ar = xr + static_cast<size_t>(p) * run;
    const float* ai = xi + static_cast<size_t>(p) * run;
    const float* br = xr + static_cast<size_t>(p + half) * run;
    const float* bi = xi + static_cast<size_t>(p + half) * run;
    float* y0r = yr + static_cast<size_t>(2 * p) * run;
    float* y0i = yi + static_cast<size_t>(2 * p) * run;
    float* y1r = y0r + run;
    float* y1i = y0i + run;
    for (int j = 0; j < run; ++j) {
      float dr = ar[j] - br[j], di = ai[j] - bi[j];
      y0r[j] = ar[j] + br[j];
      y0i[j] = ai[j] + bi[j];
      y1r[j] = dr * wr - di * wi;
      y1i[j] = dr * wi + di * wr;
    }
  }
}

// From Z = FFT_m(z), z[p] = x[2p] + i x[2p+1], to the power of the real spectrum X[k], k = 0..m:
//   E = (Z[k] + conj Z[m-k]) / 2,  O = -i (Z[k] - conj Z[m-k]) / 2,  X[k] = E + exp(-2 pi i k / n) O.
GENRENET_SIMD_CLONES
void split_power(const float* __restrict zr, const float* __restrict zi, int m, const float* __restrict cr,
                 const float* __restrict ci, float* __restrict power) {
  for (int k = 0; k <= m; ++k) {
    const float* ar = zr + static_cast<size_t>(k % m) * B;
    const float* ai = zi + static_cast<size_t>(k % m) * B;
    const float* br = zr + static_cast<size_t>((m - k) % m) * B;
    const float* bi = zi + static_cast<size_t>((m - k) % m) * B;
    const float wr = cr[k], wi = ci[k];
    float* out = power + static_cast<size_t>(k) * B;
    for (int j = 0; j < B; ++j) {
      float er = 0.5f * (ar[j] + br[j]), ei = 0.5f * (ai[j] - bi[j]);
      float or_ = 0.5f * (ai[j] + bi[j]), oi = -0.5f * (ar[j] - br[j]);
      float xr = er + wr * or_ - wi * oi;
      float xi = ei + wr * oi + wi * or_;
      out[j] = xr * xr + xi * xi;
    }
  }
}

}  // namespace

BatchedPowerSpectrum::BatchedPowerSpectrum(int n_fft) : n_(n_fft), m_(n_fft / 2) {
  if (n_fft < 4 || (n_fft & (n_fft - 1)) != 0)
    throw Error("n_fft", "must be a power of two >= 4, got " + std::to_string(n_fft));
  const double pi = std::numbers::pi;
  twiddle_re_.resize(std::max(1, m_ / 2));
  twiddle_im_.resize(std::max(1, m_ / 2));
  for (int j = 0; j < m_ / 2; ++j) {
    twiddle_re_[j] = static_cast<float>(std::cos(2 * pi * j / m_));
    twiddle_im_[j] = static_cast<float>(-std::sin(2 * pi * j / m_));
  }
  split_re_.resize(m_ + 1);
  split_im_.resize(m_ + 1);
  for (int k = 0; k <= m_; ++k) {
    split_re_[k] = static_cast<float>(std::cos(2 * pi * k / n_));
    split_im_[k] = static_cast<float>(-std::sin(2 * pi * k / n_));
  }
}

void BatchedPowerSpectrum::compute(float* re, float* im, float* scratch, float* power) const {
  float* xr = re;
  float* xi = im;
  float* yr = scratch;
  float* yi = scratch + static_cast<size_t>(m_) * B;
  // Stage lengths m, m/2, ..., 2; the twiddle for length len is exp(-2 pi i p / len) = table[p * m / len].
  for (int len = m_, s = 1; len >= 2; len /= 2, s *= 2) {
    stockham_stage(xr, xi, yr, yi, len, s, twiddle_re_.data(), twiddle_im_.data(), m_ / len);
    std::swap(xr, yr);
    std::swap(xi, yi);
  }
  split_power(xr, xi, m_, split_re_.data(), split_im_.data(), power);
}

}  // namespace genrenet::features
