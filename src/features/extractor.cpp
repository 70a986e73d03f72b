// The STFT -> mel -> dB -> standardise -> fixed length chain, as torchaudio's
// MelSpectrogram(center=True, pad_mode="reflect", window=hann_window(periodic), power=2) + AmplitudeToDB.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <span>

#include <genrenet/genrenet.h>

#include "audio/reused_audio.h"
#include "features/batched_fft.h"
#include "features/mel_filterbank.h"
#include "common/simd.h"

namespace genrenet {
namespace {

constexpr int B = features::BatchedPowerSpectrum::kBatch;

// numpy/torch "reflect" padding, folded as often as needed so that very short inputs work too.
inline size_t reflect_index(std::ptrdiff_t i, std::ptrdiff_t n) {
  if (n == 1) return 0;
  const std::ptrdiff_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return static_cast<size_t>(i < n ? i : period - i);
}

// acc[b] = sum_i w[i] * power[slot[first + i] * B + b] for each band, stored at out[m * n_frames + frame0 + b]:
// the B frames of a band in B / width registers, each weight broadcast once. (Left to the vectoriser, gcc
// vectorised over the bins instead and transposed them with permutes: 1.4 ms of a clip's 13 on AVX2.)
template <class V>
[[gnu::always_inline]] inline void apply_filterbank_body(const features::MelFilterbank& fb, const float* __restrict power,
                                                         const int* __restrict slot, float* __restrict out, int n_frames,
                                                         int frame0, int valid) {
  constexpr int kWidth = sizeof(V) / sizeof(float), kRegs = B / kWidth;
  for (int m = 0; m < fb.n_mels; ++m) {
    V acc[kRegs] = {};
    const float* w = fb.weights.data() + fb.offset[m];
    const int count = fb.offset[m + 1] - fb.offset[m];
    const int* bins = slot + fb.first_bin[m];
    for (int i = 0; i < count; ++i) {
      const float wi = w[i];
      const float* p = power + static_cast<size_t>(bins[i]) * B;
#pragma GCC unroll 4
      for (int r = 0; r < kRegs; ++r) {
        V v;
        simd::load(v, p + r * kWidth);
        acc[r] += wi * v;
      }
    }
    float* dst = out + static_cast<size_t>(m) * n_frames + frame0;
    if (valid == B) {
      for (int r = 0; r < kRegs; ++r) simd::store(dst + r * kWidth, acc[r]);
    } else {
      float lanes[B];
      for (int r = 0; r < kRegs; ++r) simd::store(lanes + r * kWidth, acc[r]);
      for (int b = 0; b < valid; ++b) dst[b] = lanes[b];
    }
  }
}

GENRENET_TARGET_V4 void apply_filterbank_v4(const features::MelFilterbank& fb, const float* power, const int* slot, float* out,
                                            int n_frames, int frame0, int valid) {
  apply_filterbank_body<simd::F32x16>(fb, power, slot, out, n_frames, frame0, valid);
}
GENRENET_TARGET_V3 void apply_filterbank_v3(const features::MelFilterbank& fb, const float* power, const int* slot, float* out,
                                            int n_frames, int frame0, int valid) {
  apply_filterbank_body<simd::F32x8>(fb, power, slot, out, n_frames, frame0, valid);
}
void apply_filterbank_baseline(const features::MelFilterbank& fb, const float* power, const int* slot, float* out,
                               int n_frames, int frame0, int valid) {
  apply_filterbank_body<simd::F32x4>(fb, power, slot, out, n_frames, frame0, valid);
}
// `power` in the FFT's slots (BatchedPowerSpectrum::slot).
void apply_filterbank(const features::MelFilterbank& fb, const float* power, const int* slot, float* out, int n_frames,
                      int frame0, int valid) {
  simd::dispatch(apply_filterbank_v4, apply_filterbank_v3, apply_filterbank_baseline, fb, power, slot, out, n_frames,
                 frame0, valid);
}

// x <- 10 log10(max(x, amin)) in place; returns the largest result. log10 is computed as
// (e ln 2 + ln m) / ln 10 for x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh((m-1)/(m+1)) by its
// series to s^9 (truncation < 1e-9): plain arithmetic that vectorises, where libm's log10f is a call per
// value (0.56 ms of a clip's 7 here). The error is below 1e-5 dB, far inside the 1e-3 dB parity bound.
GENRENET_SIMD_CLONES
float db_inplace(float* __restrict x, size_t n, float amin) {
  constexpr float kLn2 = 0.693147180559945f, kDbPerNeper = 4.342944819032518f;  // 10 / ln 10
  float peak[B];
  for (int b = 0; b < B; ++b) peak[b] = -INFINITY;
  size_t i = 0;
  for (; i + B <= n; i += B)
    for (int b = 0; b < B; ++b) {
      float v = x[i + b] > amin ? x[i + b] : amin;
      std::uint32_t bits;
      std::memcpy(&bits, &v, 4);
      // Exponent relative to the mantissa range [sqrt(1/2), sqrt(2)).
      std::int32_t e = static_cast<std::int32_t>((bits + 0x004afb0du) >> 23) - 127;
      std::uint32_t mbits = bits - (static_cast<std::uint32_t>(e) << 23);
      float m;
      std::memcpy(&m, &mbits, 4);
      float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
      float ln_m = 2.0f * s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
      float db = kDbPerNeper * (static_cast<float>(e) * kLn2 + ln_m);
      x[i + b] = db;
      peak[b] = db > peak[b] ? db : peak[b];
    }
  float best = -INFINITY;
  for (int b = 0; b < B; ++b) best = std::max(best, peak[b]);
  for (; i < n; ++i) {
    x[i] = 10.0f * std::log10(std::max(x[i], amin));
    best = std::max(best, x[i]);
  }
  return best;
}

// The frames of a batch as a panel: the signal (reflect-padded by n_fft/2 at both ends) cut into rows of
// `hop` samples, transposed, so that row r, column c holds padded sample (f0 + c) hop + r. Frame f0 + b's
// sample j is then at row j mod hop, column b + j div hop: the 16 lanes of a point are 16 consecutive floats,
// and each sample is transposed once per batch (cols / 16 times), where framing each of the 16 frames
// separately transposed it n_fft / hop = 4 times.
struct PanelShape {
  int hop = 0, cols = 0, stride = 0;  // columns: a batch plus the frames' reach; stride: cols rounded to 8
};

PanelShape panel_shape(int n_fft, int hop) {
  PanelShape s{hop, B + (n_fft - 1) / hop, 0};
  s.stride = (s.cols + 7) / 8 * 8;
  return s;
}

// Columns [c0, c0 + 8) of the panel, for the padded signal from sample `start` of column c0 on, where some
// reach past either end of the signal. Only samples outside it are reflected (a division each); columns no
// frame of the batch reads (past the last frame's reach) are zeros.
void panel_columns_scalar(std::span<const float> x, std::ptrdiff_t start, int c0, int needed_cols,
                          const PanelShape& ps, float* __restrict panel) {
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(x.size());
  for (int c = c0; c < c0 + 8; ++c) {
    const std::ptrdiff_t first = start + static_cast<std::ptrdiff_t>(c - c0) * ps.hop;
    for (int r = 0; r < ps.hop; ++r) {
      const std::ptrdiff_t i = first + r;
      float v = 0.0f;
      if (c < needed_cols) v = i >= 0 && i < n ? x[i] : x[reflect_index(i, n)];
      panel[static_cast<size_t>(r) * ps.stride + c] = v;
    }
  }
}

using simd::F32x8;
[[gnu::always_inline]] inline void transpose8(F32x8 (&r)[8]) {
  F32x8 t[8], u[8];
  for (int j = 0; j < 8; j += 2) {
    t[j] = __builtin_shufflevector(r[j], r[j + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[j + 1] = __builtin_shufflevector(r[j], r[j + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int j = 0; j < 8; j += 4) {
    u[j] = __builtin_shufflevector(t[j], t[j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[j + 1] = __builtin_shufflevector(t[j], t[j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[j + 2] = __builtin_shufflevector(t[j + 1], t[j + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[j + 3] = __builtin_shufflevector(t[j + 1], t[j + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int k = 0; k < 4; ++k) {
    r[k] = __builtin_shufflevector(u[k], u[k + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[k + 4] = __builtin_shufflevector(u[k], u[k + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

// Rows [r0, hop) of eight columns inside the signal, one float at a time.
[[gnu::always_inline]] inline void panel_rows_scalar(const float* __restrict src, int c0, int r0, const PanelShape& ps,
                                                     float* __restrict panel) {
  for (int r = r0; r < ps.hop; ++r)
    for (int k = 0; k < 8; ++k) panel[static_cast<size_t>(r) * ps.stride + c0 + k] = src[static_cast<size_t>(k) * ps.hop + r];
}

// Eight columns inside the signal, eight rows at a time: eight loads, one 8x8 transpose, eight stores.
[[gnu::always_inline]] inline void panel_columns_body(const float* __restrict src, int c0, const PanelShape& ps,
                                                      float* __restrict panel) {
  const int vector_rows = ps.hop / 8 * 8;
  for (int r0 = 0; r0 < vector_rows; r0 += 8) {
    F32x8 v[8];
    for (int k = 0; k < 8; ++k) simd::load(v[k], src + static_cast<size_t>(k) * ps.hop + r0);
    transpose8(v);
    for (int k = 0; k < 8; ++k) simd::store(panel + static_cast<size_t>(r0 + k) * ps.stride + c0, v[k]);
  }
  panel_rows_scalar(src, c0, vector_rows, ps, panel);
}

GENRENET_TARGET_V4 void panel_columns_v4(const float* src, int c0, const PanelShape& ps, float* panel) {
  panel_columns_body(src, c0, ps, panel);
}
GENRENET_TARGET_V3 void panel_columns_v3(const float* src, int c0, const PanelShape& ps, float* panel) {
  panel_columns_body(src, c0, ps, panel);
}
void panel_columns_baseline(const float* src, int c0, const PanelShape& ps, float* panel) {
  panel_rows_scalar(src, c0, 0, ps, panel);
}

// The panel of frames f0 ... f0 + B - 1 (of T) for a signal padded by `half` samples at both ends. Columns
// inside the signal are transposed from it whether or not a frame reads them (lanes past the last frame).
void build_panel(std::span<const float> x, int half, int f0, int T, const PanelShape& ps, float* panel) {
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(x.size());
  const int needed_cols = std::min(ps.cols, T - f0 + (ps.cols - B));  // the last frame's reach
  for (int c0 = 0; c0 < ps.stride; c0 += 8) {
    const std::ptrdiff_t start = static_cast<std::ptrdiff_t>(f0 + c0) * ps.hop - half;
    if (start >= 0 && start + 8 * static_cast<std::ptrdiff_t>(ps.hop) <= n)
      simd::dispatch(panel_columns_v4, panel_columns_v3, panel_columns_baseline, x.data() + start, c0, ps, panel);
    else
      panel_columns_scalar(x, start, c0, needed_cols, ps, panel);
  }
}

}  // namespace

struct FeatureExtractor::Impl {
  FeatureOptions opts;
  std::vector<float> window;  // periodic Hann: 0.5 - 0.5 cos(2 pi n / N)
  features::BatchedPowerSpectrum fft;
  features::MelFilterbank filterbank;
  PanelShape panel;
  std::vector<int> panel_at;  // frame sample j at panel_at[j] + lane: row j mod hop, column j div hop

  explicit Impl(FeatureOptions o)
      : opts((o.validate(), std::move(o))), fft(opts.n_fft), filterbank(features::MelFilterbank::build(opts)) {
    window.resize(opts.n_fft);
    for (int i = 0; i < opts.n_fft; ++i)
      window[i] = static_cast<float>(0.5 - 0.5 * std::cos(2 * std::numbers::pi * i / opts.n_fft));
    panel = panel_shape(opts.n_fft, opts.hop_length);
    panel_at.resize(opts.n_fft);
    for (int j = 0; j < opts.n_fft; ++j) panel_at[j] = j % panel.hop * panel.stride + j / panel.hop;
  }
};

FeatureExtractor::FeatureExtractor(FeatureOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
FeatureExtractor::~FeatureExtractor() = default;
FeatureExtractor::FeatureExtractor(FeatureExtractor&&) noexcept = default;
FeatureExtractor& FeatureExtractor::operator=(FeatureExtractor&&) noexcept = default;

const FeatureOptions& FeatureExtractor::options() const { return impl_->opts; }

int frame_count(std::size_t n_samples, int hop_length) {
  return 1 + static_cast<int>(n_samples / static_cast<size_t>(hop_length));
}

Spectrogram FeatureExtractor::mel_power(std::span<const float> x) const {
  const auto& o = impl_->opts;
  if (x.empty()) throw Error("features", "no samples");
  const int half = o.n_fft / 2;
  const int T = frame_count(x.size(), o.hop_length);
  if (T > (1 << 26) / std::max(1, o.n_mels)) throw Error("features", "input too long for one spectrogram", ErrorKind::TooLarge);

  // Scratch buffers live per thread and grow only: a fresh 2-MB allocation per clip costs page faults. On
  // whole cache lines (simd::AlignedFloats), and the imaginary parts start 2 KB past a multiple of 4 KB from
  // the real ones, so that re[p] and im[p], read and written together, do not share the low 12 bits of
  // their addresses, which the CPU's store-to-load check compares first ("4K aliasing"): STFT + mel 1.21-1.27
  // against 1.27-1.29 ms a clip with both a multiple of 4 KB apart (AMD EPYC family 25 model 17).
  thread_local simd::AlignedFloats panel, fft_scratch, power;
  const PanelShape& ps = impl_->panel;
  const size_t m = static_cast<size_t>(half);
  constexpr size_t kImOffset = 512;  // floats: 2 KB
  panel.resize(static_cast<size_t>(ps.hop) * ps.stride);
  fft_scratch.resize(2 * m * B + kImOffset);
  float* re = fft_scratch.data();
  float* im = re + m * B + kImOffset;
  power.resize((m + 1) * B);

  Spectrogram out{o.n_mels, T, std::vector<float>(static_cast<size_t>(o.n_mels) * T)};
  for (int f0 = 0; f0 < T; f0 += B) {
    // Lanes past the last frame read zeros; their results are discarded.
    build_panel(x, half, f0, T, ps, panel.data());
    impl_->fft.compute_from_panel(panel.data(), impl_->panel_at.data(), impl_->window.data(), re, im,
                                  power.data());
    apply_filterbank(impl_->filterbank, power.data(), impl_->fft.slots(), out.data.data(), T, f0, std::min(B, T - f0));
  }
  return out;
}

void FeatureExtractor::to_db(Spectrogram& s) const {
  const auto& o = impl_->opts;
  const float amin = static_cast<float>(o.amin);
  float peak = db_inplace(s.data.data(), s.data.size(), amin);
  if (o.top_db) {
    const float floor = peak - static_cast<float>(*o.top_db);
    for (float& v : s.data) v = std::max(v, floor);
  }
}

Spectrogram FeatureExtractor::log_mel(std::span<const float> samples) const {
  Spectrogram s = mel_power(samples);
  to_db(s);
  return s;
}

Spectrogram FeatureExtractor::model_input(std::span<const float> samples, std::mt19937* rng) const {
  return input_from_log_mel(log_mel(samples), impl_->opts, impl_->opts.crop, rng);
}

Spectrogram FeatureExtractor::model_input(const std::filesystem::path& path, std::mt19937* rng) const {
  return model_input(load_audio_reusing_buffers(path, impl_->opts.audio).samples, rng);
}

}  // namespace genrenet
