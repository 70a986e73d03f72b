// Per-spectrogram standardisation and the fixed model length.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <genrenet/genrenet.h>

#include "common/simd.h"

namespace genrenet {

namespace {

constexpr size_t kLanes = 16;

// Sums of d = x - shift and of d^2, minimum and maximum of x, in kLanes independent partial results, in one
// pass: one double accumulator is a chain of dependent additions (0.2 ms for one model input, computed twice
// a clip by `genrenet features`), and a second pass for the squares of (x - mean) cost as much again. In
// double precision the one-pass variance of 131 072 dB values (mean -50, spread 15) is within 1e-15 of the
// two-pass one; the shift (a value of x) keeps it so for data far from zero relative to its spread, where
// sum(x^2) - n mean^2 would cancel. Written on each level's own registers, the same kLanes partial results
// in the same order on every level (the same mean to the bit; the levels with FMA contract d·d + s, so the
// spread's last bit may differ from the baseline's): gcc left a loop over arrays of partial results scalar,
// and a v3 clone of 512-bit vector types went through the stack (0.44 against 0.08 ms a clip on a Xeon
// whose AVX-512 was left unused).
//   F: the level's float register (W floats), H: W/2 floats, D: W/2 doubles.
template <class F, class H, class D>
[[gnu::always_inline]] inline void lane_moments_body(const float* __restrict x, size_t n, double shift,
                                                     double* __restrict sum, double* __restrict squares,
                                                     float* __restrict lo, float* __restrict hi) {
  constexpr size_t kWidth = sizeof(F) / sizeof(float), kHalf = kWidth / 2;
  constexpr size_t kFloats = kLanes / kWidth, kDoubles = kLanes / kHalf;
  D sums[kDoubles] = {}, sq[kDoubles] = {};
  F low[kFloats], high[kFloats];
  for (size_t k = 0; k < kFloats; ++k) {
    simd::load(low[k], lo + k * kWidth);
    simd::load(high[k], hi + k * kWidth);
  }
  for (size_t i = 0; i + kLanes <= n; i += kLanes) {
#pragma GCC unroll 8
    for (size_t k = 0; k < kDoubles; ++k) {
      H h;
      simd::load(h, x + i + k * kHalf);
      const D d = __builtin_convertvector(h, D) - shift;
      sums[k] += d;
      sq[k] += d * d;
    }
#pragma GCC unroll 4
    for (size_t k = 0; k < kFloats; ++k) {
      F v;
      simd::load(v, x + i + k * kWidth);
      low[k] = v < low[k] ? v : low[k];
      high[k] = v > high[k] ? v : high[k];
    }
  }
  for (size_t k = 0; k < kFloats; ++k) {
    simd::store(lo + k * kWidth, low[k]);
    simd::store(hi + k * kWidth, high[k]);
  }
  for (size_t k = 0; k < kDoubles; ++k)
    for (size_t j = 0; j < kHalf; ++j) {
      sum[k * kHalf + j] += sums[k][j];
      squares[k * kHalf + j] += sq[k][j];
    }
}

using F32x2 = float __attribute__((vector_size(8)));
using F64x2 = double __attribute__((vector_size(16)));
using F64x4 = double __attribute__((vector_size(32)));
using F64x8 = double __attribute__((vector_size(64)));

GENRENET_TARGET_V4 void lane_moments_v4(const float* x, size_t n, double shift, double* sum, double* squares, float* lo,
                                        float* hi) {
  lane_moments_body<simd::F32x16, simd::F32x8, F64x8>(x, n, shift, sum, squares, lo, hi);
}
GENRENET_TARGET_V3 void lane_moments_v3(const float* x, size_t n, double shift, double* sum, double* squares, float* lo,
                                        float* hi) {
  lane_moments_body<simd::F32x8, simd::F32x4, F64x4>(x, n, shift, sum, squares, lo, hi);
}
void lane_moments_baseline(const float* x, size_t n, double shift, double* sum, double* squares, float* lo, float* hi) {
  lane_moments_body<simd::F32x4, F32x2, F64x2>(x, n, shift, sum, squares, lo, hi);
}

void lane_moments(const float* x, size_t n, double shift, double* sum, double* squares, float* lo, float* hi) {
  simd::dispatch(lane_moments_v4, lane_moments_v3, lane_moments_baseline, x, n, shift, sum, squares, lo, hi);
}

}  // namespace

SpectrogramStats compute_stats(const Spectrogram& s) {
  SpectrogramStats st;
  if (s.data.empty()) return st;
  const float* x = s.data.data();
  const size_t n = s.data.size(), body = n / kLanes * kLanes;
  const double shift = x[0];
  double sum[kLanes] = {}, ss[kLanes] = {};
  float lo[kLanes], hi[kLanes];
  std::fill_n(lo, kLanes, x[0]);
  std::fill_n(hi, kLanes, x[0]);
  lane_moments(x, n, shift, sum, ss, lo, hi);
  for (size_t i = body; i < n; ++i) {
    const double d = x[i] - shift;
    sum[0] += d;
    ss[0] += d * d;
    lo[0] = std::min(lo[0], x[i]);
    hi[0] = std::max(hi[0], x[i]);
  }
  st.min = *std::min_element(lo, lo + kLanes);
  st.max = *std::max_element(hi, hi + kLanes);
  const double mean_d = std::accumulate(sum, sum + kLanes, 0.0) / n;
  st.mean = shift + mean_d;
  const double centred = std::accumulate(ss, ss + kLanes, 0.0) - n * mean_d * mean_d;
  st.std = n > 1 ? std::sqrt(std::max(0.0, centred) / (n - 1)) : 0.0;
  return st;
}

void standardize(Spectrogram& s) {
  SpectrogramStats st = compute_stats(s);
  const float mean = static_cast<float>(st.mean);
  const float inv = static_cast<float>(1.0 / (st.std + 1e-6));
  for (float& v : s.data) v = (v - mean) * inv;
}

int fix_length_offset(int n_frames, int frames, CropMode crop, std::mt19937* rng) {
  if (n_frames <= frames) return 0;
  const int slack = n_frames - frames;
  switch (crop) {
    case CropMode::Start: return 0;
    case CropMode::Center: return slack / 2;
    case CropMode::Random:
      if (!rng) throw Error("crop", "random crop needs a random generator");
      return std::uniform_int_distribution<int>(0, slack)(*rng);
  }
  return slack / 2;
}

Spectrogram fix_length(const Spectrogram& s, int frames, int offset, PadMode pad) {
  if (frames < 1) throw Error("frames", "must be positive");
  if (s.n_frames < 1) throw Error("fix_length", "empty spectrogram");
  // Each value written once, row after row (zero-filling the whole output first and copying over 92% of it
  // was a second pass over the 512-KB model input).
  Spectrogram out{s.n_mels, frames, {}};
  out.data.reserve(static_cast<size_t>(s.n_mels) * frames);
  for (int m = 0; m < s.n_mels; ++m) {
    const float* src = s.data.data() + static_cast<size_t>(m) * s.n_frames;
    if (s.n_frames >= frames) {
      const float* from = src + std::clamp(offset, 0, s.n_frames - frames);
      out.data.insert(out.data.end(), from, from + frames);
    } else if (pad == PadMode::Zero) {
      out.data.insert(out.data.end(), src, src + s.n_frames);
      out.data.insert(out.data.end(), static_cast<size_t>(frames - s.n_frames), 0.f);  // the standardised mean
    } else {
      for (int t = 0; t < frames; ++t) out.data.push_back(src[t % s.n_frames]);
    }
  }
  return out;
}

Spectrogram input_from_log_mel(Spectrogram s, const FeatureOptions& o, CropMode crop, std::mt19937* rng) {
  if (o.standardize) standardize(s);
  if (s.n_frames == o.frames) return s;
  return fix_length(s, o.frames, fix_length_offset(s.n_frames, o.frames, crop, rng), o.pad);
}

std::vector<Spectrogram> window_inputs(const Spectrogram& log_mel, const FeatureOptions& o, int window_frames,
                                       int hop_frames, std::vector<int>* starts_out) {
  if (log_mel.n_frames < 1) throw Error("window_inputs", "empty spectrogram");
  std::vector<int> starts;
  std::vector<Spectrogram> out;
  if (log_mel.n_frames <= o.frames) {
    starts.push_back(0);
    out.push_back(input_from_log_mel(log_mel, o, CropMode::Center));
  } else {
    window_frames = std::clamp(window_frames, 1, o.frames);
    hop_frames = std::clamp(hop_frames, 1, window_frames);  // a longer hop would leave audio unheard
    for (int s = 0; s + window_frames < log_mel.n_frames; s += hop_frames) starts.push_back(s);
    const int last = log_mel.n_frames - window_frames;  // the end is always covered
    if (starts.empty() || starts.back() != last) starts.push_back(last);
    for (int s : starts) out.push_back(input_from_log_mel(fix_length(log_mel, window_frames, s, o.pad), o, CropMode::Center));
  }
  if (starts_out) *starts_out = std::move(starts);
  return out;
}

}  // namespace genrenet
