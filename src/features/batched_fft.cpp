#include "features/batched_fft.h"

#include <cmath>
#include <numbers>
#include <utility>

#include <genrenet/genrenet.h>

#include "common/simd.h"


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

// One radix-4 Stockham stage (len divisible by 4): with a..d = x[p], x[p + len/4], x[p + len/2],
// x[p + 3len/4] and w = exp(-2 pi i / len),
//   y[4p] = (a+c) + (b+d),  y[4p+1] = w^p (a-c - i(b-d)),  y[4p+2] = w^2p ((a+c) - (b+d)),
//   y[4p+3] = w^3p (a-c + i(b-d)).
// Half as many passes over the data as radix 2, and fewer multiplications.
GENRENET_SIMD_CLONES
void stockham_stage4(const float* __restrict xr, const float* __restrict xi, float* __restrict yr,
                     float* __restrict yi, int len, int s, const float* __restrict twr,
                     const float* __restrict twi, int tw_stride) {
  const int q = len / 4;
  const size_t run = static_cast<size_t>(s) * B;
  for (int p = 0; p < q; ++p) {
    const float w1r = twr[p * tw_stride], w1i = twi[p * tw_stride];
    const float w2r = twr[2 * p * tw_stride], w2i = twi[2 * p * tw_stride];
    const float w3r = twr[3 * p * tw_stride], w3i = twi[3 * p * tw_stride];
    const float* ar = xr + p * run;
    const float* ai = xi + p * run;
    const float* br = ar + q * run;
    const float* bi = ai + q * run;
    const float* cr = br + q * run;
    const float* ci = bi + q * run;
    const float* dr = cr + q * run;
    const float* di = ci + q * run;
    float* y0r = yr + 4 * p * run;
    float* y0i = yi + 4 * p * run;
    float *y1r = y0r + run, *y1i = y0i + run, *y2r = y1r + run, *y2i = y1i + run, *y3r = y2r + run,
          *y3i = y2i + run;
    // The eight input and eight output runs never overlap (x and y are different buffers).
#pragma GCC ivdep
    for (size_t j = 0; j < run; ++j) {
      float apcr = ar[j] + cr[j], apci = ai[j] + ci[j];
      float amcr = ar[j] - cr[j], amci = ai[j] - ci[j];
      float bpdr = br[j] + dr[j], bpdi = bi[j] + di[j];
      float bmdr = br[j] - dr[j], bmdi = bi[j] - di[j];
      // i (b - d) = (-bmdi, bmdr)
      float t1r = amcr + bmdi, t1i = amci - bmdr;  // a - c - i(b - d)
      float t3r = amcr - bmdi, t3i = amci + bmdr;  // a - c + i(b - d)
      float t2r = apcr - bpdr, t2i = apci - bpdi;
      y0r[j] = apcr + bpdr;
      y0i[j] = apci + bpdi;
      y1r[j] = t1r * w1r - t1i * w1i;
      y1i[j] = t1r * w1i + t1i * w1r;
      y2r[j] = t2r * w2r - t2i * w2i;
      y2i[j] = t2r * w2i + t2i * w2r;
      y3r[j] = t3r * w3r - t3i * w3i;
      y3i[j] = t3r * w3i + t3i * w3r;
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
  twiddle_re_.resize(m_);
  twiddle_im_.resize(m_);
  for (int j = 0; j < m_; ++j) {
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
  // Radix-4 stages while the length allows, then one radix-2 stage if log2(m) is odd. The twiddle for
  // length len is exp(-2 pi i p / len) = table[p * m / len].
  int len = m_, s = 1;
  for (; len >= 4; len /= 4, s *= 4) {
    stockham_stage4(xr, xi, yr, yi, len, s, twiddle_re_.data(), twiddle_im_.data(), m_ / len);
    std::swap(xr, yr);
    std::swap(xi, yi);
  }
  if (len == 2) {
    stockham_stage(xr, xi, yr, yi, len, s, twiddle_re_.data(), twiddle_im_.data(), m_ / len);
    std::swap(xr, yr);
    std::swap(xi, yi);
  }
  split_power(xr, xi, m_, split_re_.data(), split_im_.data(), power);
}

}  // namespace genrenet::features
