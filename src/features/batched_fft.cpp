#include "features/batched_fft.h"

#include <cmath>
#include <numbers>

#include <genrenet/genrenet.h>

#include "common/simd.h"


namespace genrenet::features {
namespace {

constexpr int B = BatchedPowerSpectrum::kBatch;

// The FFT is decimation in frequency, in place: a radix-4 stage turns a block of len points into four
// blocks of len/4 whose DFTs are X[4k], X[4k+1], X[4k+2], X[4k+3], so the spectrum comes out in
// base-4 digit-reversed order, which the split into the real spectrum reads through a table. In place and
// depth first, a block is finished while it sits in L1 (64 points x 16 lanes x re, im = 8 KB), where the
// Stockham form this replaced sent all five passes of a 1024-point batch through L2 (2 x 128 KB).
//
// The twiddles of one radix-4 butterfly: w^p, w^2p, w^3p.
struct Twiddles {
  float r1, i1, r2, i2, r3, i3;
};

// The radix-4 butterfly of lane j, for points a..d given (re, im), written to x[j], x[qs + j], x[2qs + j] and
// x[3qs + j] (qs: a quarter block, in floats); without the twiddles' multiplications in the last stage, where
// they are all 1.
template <bool kTwiddled = true>
[[gnu::always_inline]] inline void butterfly4(float a_r, float a_i, float b_r, float b_i, float c_r, float c_i, float d_r,
                                              float d_i, const Twiddles& w, float* xr, float* xi, size_t qs, int j) {
  const float apcr = a_r + c_r, apci = a_i + c_i, amcr = a_r - c_r, amci = a_i - c_i;
  const float bpdr = b_r + d_r, bpdi = b_i + d_i, bmdr = b_r - d_r, bmdi = b_i - d_i;
  const float t1r = amcr + bmdi, t1i = amci - bmdr;  // a - c - i(b - d)
  const float t3r = amcr - bmdi, t3i = amci + bmdr;  // a - c + i(b - d)
  const float t2r = apcr - bpdr, t2i = apci - bpdi;
  xr[j] = apcr + bpdr;
  xi[j] = apci + bpdi;
  if constexpr (!kTwiddled) {
    xr[qs + j] = t1r, xi[qs + j] = t1i, xr[2 * qs + j] = t2r, xi[2 * qs + j] = t2i, xr[3 * qs + j] = t3r, xi[3 * qs + j] = t3i;
    return;
  }
  xr[qs + j] = t1r * w.r1 - t1i * w.i1;
  xi[qs + j] = t1r * w.i1 + t1i * w.r1;
  xr[2 * qs + j] = t2r * w.r2 - t2i * w.i2;
  xi[2 * qs + j] = t2r * w.i2 + t2i * w.r2;
  xr[3 * qs + j] = t3r * w.r3 - t3i * w.i3;
  xi[3 * qs + j] = t3r * w.i3 + t3i * w.r3;
}

// One radix-4 stage on `blocks` consecutive blocks of len points (len divisible by 4, q = len/4): with
// a..d = x[p], x[p+q], x[p+2q], x[p+3q] and w = exp(-2 pi i / len),
//   x[p] = (a+c) + (b+d),  x[p+q] = w^p (a-c - i(b-d)),  x[p+2q] = w^2p ((a+c) - (b+d)),
//   x[p+3q] = w^3p (a-c + i(b-d)).
GENRENET_SIMD_CLONES
void dif_stage4(float* __restrict xr, float* __restrict xi, int len, int blocks, const float* __restrict twr,
                const float* __restrict twi, int tw_stride) {
  const int q = len / 4;
  const size_t qs = static_cast<size_t>(q) * B;
  for (int blk = 0; blk < blocks; ++blk) {
    float* br_ = xr + static_cast<size_t>(blk) * len * B;
    float* bi_ = xi + static_cast<size_t>(blk) * len * B;
    for (int p = 0; p < q; ++p) {
      const int t = p * tw_stride;
      const Twiddles w{twr[t], twi[t], twr[2 * t], twi[2 * t], twr[3 * t], twi[3 * t]};
      float* ar = br_ + static_cast<size_t>(p) * B;
      float* ai = bi_ + static_cast<size_t>(p) * B;
      // Each lane j of the four points is read, then written, by this iteration alone.
#pragma GCC ivdep
      for (int j = 0; j < B; ++j)
        butterfly4(ar[j], ai[j], ar[qs + j], ai[qs + j], ar[2 * qs + j], ai[2 * qs + j], ar[3 * qs + j], ai[3 * qs + j], w, ar,
                   ai, qs, j);
    }
  }
}

// The first stage (len m) fused with framing and windowing: lane b's point p is
// z[p] = w[2p] s_b[2p] + i w[2p+1] s_b[2p+1], where sample j of lane b is panel[at[j] + b]. The four points of
// a butterfly come straight from the panel, so the packed frames are never stored and read back.
GENRENET_SIMD_CLONES
void dif_first_from_panel(const float* __restrict panel, const int* __restrict at, const float* __restrict win, int m,
                          float* __restrict xr, float* __restrict xi, const float* __restrict twr,
                          const float* __restrict twi) {
  const int q = m / 4;
  const size_t qs = static_cast<size_t>(q) * B;
  for (int p = 0; p < q; ++p) {
    const int ja = 2 * p, jb = 2 * (p + q), jc = 2 * (p + 2 * q), jd = 2 * (p + 3 * q);
    const float *sar = panel + at[ja], *sai = panel + at[ja + 1], *sbr = panel + at[jb], *sbi = panel + at[jb + 1];
    const float *scr = panel + at[jc], *sci = panel + at[jc + 1], *sdr = panel + at[jd], *sdi = panel + at[jd + 1];
    const float war = win[ja], wai = win[ja + 1], wbr = win[jb], wbi = win[jb + 1];
    const float wcr = win[jc], wci = win[jc + 1], wdr = win[jd], wdi = win[jd + 1];
    const Twiddles w{twr[p], twi[p], twr[2 * p], twi[2 * p], twr[3 * p], twi[3 * p]};
    float* ar = xr + static_cast<size_t>(p) * B;
    float* ai = xi + static_cast<size_t>(p) * B;
#pragma GCC ivdep
    for (int j = 0; j < B; ++j)
      butterfly4(war * sar[j], wai * sai[j], wbr * sbr[j], wbi * sbi[j], wcr * scr[j], wci * sci[j], wdr * sdr[j],
                 wdi * sdi[j], w, ar, ai, qs, j);
  }
}

// The last stage on `blocks` blocks of `len` points: radix 4 (every twiddle 1: no multiplications), or the
// radix-2 stage x[0] = a + b, x[1] = a - b that ends an FFT of 2 x 4^k points.
GENRENET_SIMD_CLONES
void dif_last(float* __restrict xr, float* __restrict xi, int len, int blocks) {
  constexpr Twiddles kOne{1, 0, 1, 0, 1, 0};
  for (int blk = 0; blk < blocks; ++blk) {
    float* ar = xr + static_cast<size_t>(blk) * len * B;
    float* ai = xi + static_cast<size_t>(blk) * len * B;
    if (len == 4) {
#pragma GCC ivdep
      for (int j = 0; j < B; ++j)
        butterfly4<false>(ar[j], ai[j], ar[B + j], ai[B + j], ar[2 * B + j], ai[2 * B + j], ar[3 * B + j], ai[3 * B + j], kOne,
                          ar, ai, B, j);
      continue;
    }
#pragma GCC ivdep
    for (int j = 0; j < B; ++j) {
      const float a_r = ar[j], a_i = ai[j], b_r = ar[B + j], b_i = ai[B + j];
      ar[j] = a_r + b_r;
      ai[j] = a_i + b_i;
      ar[B + j] = a_r - b_r;
      ai[B + j] = a_i - b_i;
    }
  }
}

// From Z = FFT_m(z), z[p] = x[2p] + i x[2p+1], to the power of the real spectrum X[k], k = 0..m:
//   E = (Z[k] + conj Z[m-k]) / 2,  O = -i (Z[k] - conj Z[m-k]) / 2,  X[k] = E + W^k O,  W = exp(-2 pi i / n),
// and bin m-k from the same two points: its E and O are the conjugates of bin k's and W^(m-k) = -conj W^k,
// so X[m-k] = conj(E - W^k O). Each pair {k, m-k} is read once for both bins (k = 0 gives X[0] and X[m]; k =
// m/2 is its own pair, written last as E + W^k O): the step is bound by reading Z from L2, and visiting
// every bin read every point twice (0.24 ms a clip for this step alone, AMD EPYC family 25 model 17).
// Z is in the FFT's digit-reversed order: Z[k] at position at[k], at[m] = at[0]; `pairs` lists the bins
// k <= m/2 in the order of their positions, so that Z[k] is read forwards and Z[m-k] (the digits'
// complement, nearly) backwards. In k's order, reading jumped m/4 points at a time and this step took twice
// as long. The power goes to its bins' slots (slot[k]).
GENRENET_SIMD_CLONES
void split_power(const float* __restrict zr, const float* __restrict zi, int m, const int* __restrict at,
                 const int* __restrict pairs, const int* __restrict slot, const float* __restrict cr,
                 const float* __restrict ci, float* __restrict power) {
  for (int i = 0; i <= m / 2; ++i) {
    const int k = pairs[i];
    const size_t a = static_cast<size_t>(at[k]) * B, b = static_cast<size_t>(at[m - k]) * B;
    const float *ar = zr + a, *ai = zi + a, *br = zr + b, *bi = zi + b;
    const float wr = cr[k], wi = ci[k];
    float* out_k = power + static_cast<size_t>(slot[k]) * B;
    float* out_mk = power + static_cast<size_t>(slot[m - k]) * B;
    for (int j = 0; j < B; ++j) {
      const float er = 0.5f * (ar[j] + br[j]), ei = 0.5f * (ai[j] - bi[j]);
      const float or_ = 0.5f * (ai[j] + bi[j]), oi = -0.5f * (ar[j] - br[j]);
      const float tr = wr * or_ - wi * oi, ti = wr * oi + wi * or_;
      out_mk[j] = (er - tr) * (er - tr) + (ei - ti) * (ei - ti);
      out_k[j] = (er + tr) * (er + tr) + (ei + ti) * (ei + ti);
    }
  }
}

// Where the FFT below leaves X[k] of a block of len points: a radix-r stage sends X[k] to block k mod r
// (of len/r points), as X[k div r] of that block.
int position(int k, int len) {
  if (len == 1) return 0;
  const int r = len % 4 == 0 ? 4 : 2;
  return (k % r) * (len / r) + position(k / r, len / r);
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
  position_.resize(m_ + 1);
  for (int k = 0; k < m_; ++k) position_[k] = position(k, m_);
  position_[m_] = position_[0];
  slot_.assign(position_.begin(), position_.end());
  slot_[m_] = m_;
  std::vector<int> bin_at(m_ + 1);
  for (int k = 0; k <= m_; ++k) bin_at[slot_[k]] = k;
  for (int i = 0; i < m_; ++i)
    if (2 * bin_at[i] <= m_) pair_bins_.push_back(bin_at[i]);
}

// Blocks of up to this many points (x 16 lanes x re, im: 8 KB) are transformed to the end in one go, in L1.
constexpr int kL1Points = 64;

void BatchedPowerSpectrum::transform(float* xr, float* xi, int len) const {
  const float *twr = twiddle_re_.data(), *twi = twiddle_im_.data();
  if (len > kL1Points) {
    dif_stage4(xr, xi, len, 1, twr, twi, m_ / len);
    transform_quarters(xr, xi, len);
    return;
  }
  int l = len;
  for (; l > 4; l /= 4) dif_stage4(xr, xi, l, len / l, twr, twi, m_ / l);
  if (l > 1) dif_last(xr, xi, l, len / l);
}

void BatchedPowerSpectrum::transform_quarters(float* xr, float* xi, int len) const {
  const size_t quarter = static_cast<size_t>(len / 4) * B;
  for (int r = 0; r < 4; ++r) transform(xr + r * quarter, xi + r * quarter, len / 4);
}

void BatchedPowerSpectrum::write_power(const float* re, const float* im, float* power) const {
  split_power(re, im, m_, position_.data(), pair_bins_.data(), slot_.data(), split_re_.data(), split_im_.data(), power);
}

void BatchedPowerSpectrum::compute(float* re, float* im, float* power) const {
  transform(re, im, m_);
  write_power(re, im, power);
}

void BatchedPowerSpectrum::compute_from_panel(const float* panel, const int* at, const float* window, float* re,
                                              float* im, float* power) const {
  if (m_ % 4 != 0) throw Error("n_fft", "framing from a panel needs n_fft divisible by 8, got " + std::to_string(n_));
  dif_first_from_panel(panel, at, window, m_, re, im, twiddle_re_.data(), twiddle_im_.data());
  transform_quarters(re, im, m_);
  write_power(re, im, power);
}

}  // namespace genrenet::features
