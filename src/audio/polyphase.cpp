#include "audio/polyphase.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numbers>
#include <numeric>
#include <string>
#include <vector>

#include "audio/pcm16.h"
#include "common/simd.h"

namespace genrenet {
namespace {

constexpr int kLanes = 16;  // taps per SIMD step (one AVX-512 register of floats)
constexpr std::int64_t kMaxTable = 1 << 20;  // 4 MB of coefficients; every common rate needs < 150 k

struct QualitySpec {
  double passband;       // passband end, as a fraction of the lower Nyquist frequency
  double attenuation_db; // stopband attenuation (and passband ripple) of the Kaiser design
};

QualitySpec spec_of(ResampleQuality q) {
  switch (q) {
    case ResampleQuality::Low: return {0.85, 70};
    case ResampleQuality::Medium: return {0.89, 85};
    case ResampleQuality::High: return {0.91, 100};
    case ResampleQuality::VeryHigh: return {0.95, 125};
  }
  return {0.91, 100};
}

// The modified Bessel function of the first kind, order 0 (its series converges fast for Kaiser's betas).
double bessel_i0(double x) {
  double sum = 1, term = 1;
  for (int k = 1; k < 64; ++k) {
    term *= (x / (2 * k)) * (x / (2 * k));
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

int taps_for(int from_rate, double transition_hz, double attenuation_db) {
  const double dw = 2 * std::numbers::pi * transition_hz / from_rate;
  const int n = static_cast<int>(std::ceil((attenuation_db - 7.95) / (2.285 * dw))) + 1;
  return (n + kLanes - 1) / kLanes * kLanes;
}

// y[n] = <table[phase(n)], x[index(n) ...]> with phase(n) = n·M mod L and index(n) = n·M div L. Outputs L
// apart share their phase, their inputs M apart: so the loop runs over the L phases, and for each over
// kGroup outputs at once (r, r + 1, ... periods later), loading each vector of taps once for kGroup
// products. That nearly halves the loads per multiply-add, which is what bounds a direct dot product here
// (two loads per FMA): 1.5x faster, measured. Time is cut into chunks of periods, so that a chunk's input
// stays in cache while every phase passes over it.
using simd::F32x16;
using simd::F32x8;
using simd::F32x4;
using simd::load;

// A tree of halving sums: summing the lanes in order would be a chain of dependent additions per output,
// which measured slower than all of its multiply-adds.
[[gnu::always_inline]] inline float sum_lanes(const F32x4& v) { return (v[0] + v[2]) + (v[1] + v[3]); }
[[gnu::always_inline]] inline float sum_lanes(const F32x8& v) {
  return sum_lanes(F32x4(__builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7)));
}
[[gnu::always_inline]] inline float sum_lanes(const F32x16& v) {
  return sum_lanes(F32x8(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                         __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)));
}

// V: the vector of the instruction set, one register; the table's taps come in steps of kLanes, so each
// step is kLanes / width vectors. kGroup outputs in flight: their accumulators, one register each, stay
// in registers (8 of 16 or 32).
template <class V, int kGroup>
[[gnu::always_inline]] inline void run_phases_body(const float* x, const float* table, int taps, int up, int down,
                                                   std::int64_t n_out, float* y) {
  constexpr int kWidth = sizeof(V) / sizeof(float);
  static_assert(kLanes % kWidth == 0);
  constexpr std::int64_t kChunk = 16;  // periods per chunk: 16 x M input samples (28 KB at 22.05 kHz)
  const std::int64_t periods = (n_out + up - 1) / up;
  for (std::int64_t first = 0; first < periods; first += kChunk) {
    const std::int64_t last = std::min(periods, first + kChunk);
    for (int slot = 0; slot < up; ++slot) {
      const std::int64_t pos = static_cast<std::int64_t>(slot) * down;
      const float* h = table + (pos % up) * taps;
      const std::int64_t start = pos / up;
      std::int64_t r = first;
      for (; r + kGroup <= last && slot + (r + kGroup - 1) * up < n_out; r += kGroup) {
        const float* xs = x + start + r * down;
        V a[kGroup] = {};
        for (int k = 0; k < taps; k += kWidth) {
          V hv;
          load(hv, h + k);
#pragma GCC unroll 8
          for (int g = 0; g < kGroup; ++g) {
            V xv;
            load(xv, xs + g * down + k);
            a[g] += hv * xv;
          }
        }
        const std::int64_t n = slot + r * up;
#pragma GCC unroll 8
        for (int g = 0; g < kGroup; ++g) y[n + g * up] = sum_lanes(a[g]);
      }
      for (; r < last && slot + r * up < n_out; ++r) {
        const float* xs = x + start + r * down;
        V a{};
        for (int k = 0; k < taps; k += kWidth) {
          V hv, xv;
          load(hv, h + k);
          load(xv, xs + k);
          a += hv * xv;
        }
        y[slot + r * up] = sum_lanes(a);
      }
    }
  }
}

// The blocked form: 16 consecutive outputs at once, one per lane, as a small matrix product. Output n reads
// input from floor(n·M / L) on; the 16 outputs of a block start within ~16·M/L samples of each other, so
// each one's phase, shifted to its own start inside a window of block_taps samples (zeros around it), turns
// the block into y[16] = sum over j of x[start + j] · H[j][16]: every multiply-add uses all 16 lanes with one
// input sample broadcast, the tap row loaded once serves kRows super-periods (whose inputs are
// first_input(super_outputs) apart), and no lane is summed across at the end. The per-phase kernel below loads an input
// vector for every multiply-add, misaligned nearly always (two cache lines), which held it near a third of
// the FMA peak; this form pays ~10% zero taps (22.05 -> 16 kHz: 229 of them for 208) to leave that bound.
constexpr int kBlock = 16;  // outputs per block, whatever the vector width

// kRows super-periods of one block: kRows x (16 / width) accumulators (12 on every level; 10 on AVX2 with
// the rounding, below). kQuantize rounds the outputs to 16 bits in registers before they are stored (a
// separate pass read a clip's 1.9 MB of output back and wrote it again).
template <class V, int kRows, bool kQuantize>
[[gnu::always_inline]] inline void block_rows(const float* x, std::int64_t x_step, const float* h, int taps, float* y,
                                              std::int64_t y_step) {
  constexpr int kWidth = sizeof(V) / sizeof(float), kVecs = kBlock / kWidth;
  V acc[kRows][kVecs] = {};
  for (int j = 0; j < taps; ++j) {
    V hv[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) load(hv[v], h + j * kBlock + v * kWidth);
#pragma GCC unroll 12
    for (int r = 0; r < kRows; ++r) {
      const float s = x[r * x_step + j];
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] += hv[v] * s;
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      if constexpr (kQuantize) acc[r][v] = quantize_16bit_vector(acc[r][v]);
      simd::store(y + r * y_step + v * kWidth, acc[r][v]);
    }
}

// Every whole super-period, in chunks whose input (~64 KB) stays in L2 while every block passes over it.
// Then the whole blocks of a last, partial super-period of `partial` outputs (fewer than super_outputs), as
// the blocks of a whole one (each output the same sum in the same order); the few after them are
// run_outputs'. (One dot product at a time, a chain of dependent multiply-adds, they cost ~0.05 ms a clip.)
template <class V, int kRows, bool kQuantize>
[[gnu::always_inline]] inline void run_blocks_body(const float* x, const PolyphaseDesign& d, std::int64_t supers,
                                                   std::int64_t partial, float* y) {
  const std::int64_t super_inputs = d.first_input(d.super_outputs);
  const std::int64_t chunk = std::max<std::int64_t>(kRows, (16384 / super_inputs) / kRows * kRows);
  const int taps = d.block_taps;
  for (std::int64_t first = 0; first < supers; first += chunk) {
    const std::int64_t last = std::min(supers, first + chunk);
    for (std::int64_t b = 0; b < d.super_outputs / kBlock; ++b) {
      const float* h = d.blocks.data() + b * taps * kBlock;
      const float* xb = x + d.first_input(b * kBlock);
      float* yb = y + b * kBlock;
      std::int64_t t = first;
      for (; t + kRows <= last; t += kRows)
        block_rows<V, kRows, kQuantize>(xb + t * super_inputs, super_inputs, h, taps, yb + t * d.super_outputs,
                                        d.super_outputs);
      for (; t < last; ++t)
        block_rows<V, 1, kQuantize>(xb + t * super_inputs, super_inputs, h, taps, yb + t * d.super_outputs, 0);
    }
  }
  const float* xp = x + supers * super_inputs;
  float* yp = y + supers * d.super_outputs;
  for (std::int64_t b = 0; b < partial / kBlock; ++b)
    block_rows<V, 1, kQuantize>(xp + d.first_input(b * kBlock), 0, d.blocks.data() + b * taps * kBlock, taps,
                                yp + b * kBlock, 0);
}

GENRENET_TARGET_V4 void run_blocks_v4(const float* x, const PolyphaseDesign& d, std::int64_t supers, std::int64_t partial,
                                     float* y, bool quantize) {
  if (quantize) return run_blocks_body<F32x16, 12, true>(x, d, supers, partial, y);
  run_blocks_body<F32x16, 12, false>(x, d, supers, partial, y);
}
// AVX2 has 16 registers: 6 rows of two vectors are 12 accumulators, two tap vectors and the broadcast sample,
// and with the rounding's constants as well gcc kept one accumulator on the stack, a store and a reload in
// every multiply-add chain's step (4.1 against 2.7 ms a clip; Intel Xeon family 6 model 207 running this
// kernel). Five rows leave room for them (2.9 ms): every output is the same sum as with six.
GENRENET_TARGET_V3 void run_blocks_v3(const float* x, const PolyphaseDesign& d, std::int64_t supers, std::int64_t partial,
                                     float* y, bool quantize) {
  if (quantize) return run_blocks_body<F32x8, 5, true>(x, d, supers, partial, y);
  run_blocks_body<F32x8, 6, false>(x, d, supers, partial, y);
}
void run_blocks_baseline(const float* x, const PolyphaseDesign& d, std::int64_t supers, std::int64_t partial, float* y,
                         bool quantize) {
  if (quantize) return run_blocks_body<F32x4, 3, true>(x, d, supers, partial, y);
  run_blocks_body<F32x4, 3, false>(x, d, supers, partial, y);
}

// One kernel per instruction-set level, each on its own registers. The AVX2 one once ran on 16-float
// vectors too (two registers each, eight accumulators: all 16 of AVX2's registers), and gcc kept them on
// the stack: 28 ms a clip on an AVX2 CPU, against 5 for libsoxr.
GENRENET_TARGET_V4 void run_phases_v4(const float* x, const float* table, int taps, int up, int down, std::int64_t n_out,
                                      float* y) {
  run_phases_body<F32x16, 8>(x, table, taps, up, down, n_out, y);
}
GENRENET_TARGET_V3 void run_phases_v3(const float* x, const float* table, int taps, int up, int down, std::int64_t n_out,
                                      float* y) {
  run_phases_body<F32x8, 8>(x, table, taps, up, down, n_out, y);
}
void run_phases_baseline(const float* x, const float* table, int taps, int up, int down, std::int64_t n_out, float* y) {
  run_phases_body<F32x4, 8>(x, table, taps, up, down, n_out, y);
}

void run_phases(const float* x, const float* table, int taps, int up, int down, std::int64_t n_out, float* y) {
  simd::dispatch(run_phases_v4, run_phases_v3, run_phases_baseline, x, table, taps, up, down, n_out, y);
}

// The outputs after the last whole block (fewer than 16), one dot product each; x holds the padded input
// from sample x_origin on.
void run_outputs(const float* x, std::int64_t x_origin, const PolyphaseDesign& d, std::int64_t first, std::int64_t n_out,
                 float* y, bool quantize) {
  for (std::int64_t n = first; n < n_out; ++n) {
    const float* h = d.phase_taps(n);
    const float* xs = x + (d.first_input(n) - x_origin);
    float a = 0;
    for (int k = 0; k < d.taps; ++k) a += h[k] * xs[k];
    y[n] = quantize ? quantize_16bit_sample(a) : a;
  }
}

// The blocked table of `d` (PolyphaseDesign::blocks), from its per-phase table; left empty when it would
// hold more than kMaxTable coefficients (an odd L makes a super-period 16 L outputs long).
void lay_out_blocks(PolyphaseDesign& d) {
  const std::int64_t super_outputs = std::lcm<std::int64_t>(kBlock, d.up);
  std::int64_t span = 0;
  for (std::int64_t n = 0; n < super_outputs; n += kBlock) span = std::max(span, d.first_input(n + kBlock - 1) - d.first_input(n));
  const std::int64_t taps = d.taps + span;
  if (super_outputs * taps > kMaxTable) return;
  d.block_taps = static_cast<int>(taps);
  d.super_outputs = super_outputs;
  d.blocks.assign(static_cast<size_t>(super_outputs * taps), 0.0f);
  for (std::int64_t b = 0; b < super_outputs / kBlock; ++b) {
    float* h = d.blocks.data() + b * taps * kBlock;
    for (int i = 0; i < kBlock; ++i) {
      const std::int64_t n = b * kBlock + i, shift = d.first_input(n) - d.first_input(b * kBlock);
      const float* phase = d.phase_taps(n);
      for (int k = 0; k < d.taps; ++k) h[(shift + k) * kBlock + i] = phase[k];
    }
  }
}

}  // namespace

bool polyphase_supported(int from_rate, int to_rate, ResampleQuality quality) {
  if (from_rate <= 0 || to_rate <= 0) return false;
  const int g = std::gcd(from_rate, to_rate);
  const QualitySpec q = spec_of(quality);
  const double nyquist = std::min(from_rate, to_rate) / 2.0;
  return static_cast<std::int64_t>(to_rate / g) * taps_for(from_rate, nyquist * (1 - q.passband), q.attenuation_db) <= kMaxTable;
}

PolyphaseDesign design_polyphase(int from_rate, int to_rate, ResampleQuality quality) {
  if (!polyphase_supported(from_rate, to_rate, quality))
    throw Error("resample", "no polyphase design for " + std::to_string(from_rate) + " -> " + std::to_string(to_rate) + " Hz");
  const int g = std::gcd(from_rate, to_rate);
  const QualitySpec q = spec_of(quality);
  PolyphaseDesign d;
  d.up = to_rate / g;
  d.down = from_rate / g;
  const double nyquist = std::min(from_rate, to_rate) / 2.0;
  d.passband_hz = nyquist * q.passband;
  d.stopband_hz = nyquist;
  d.attenuation_db = q.attenuation_db;
  d.taps = taps_for(from_rate, d.stopband_hz - d.passband_hz, q.attenuation_db);
  const double cutoff = (d.passband_hz + d.stopband_hz) / 2 / from_rate;  // cycles per input sample
  const double beta = q.attenuation_db > 50 ? 0.1102 * (q.attenuation_db - 8.7)
                                            : 0.5842 * std::pow(q.attenuation_db - 21, 0.4) + 0.07886 * (q.attenuation_db - 21);
  const double half = d.taps / 2.0, i0_beta = bessel_i0(beta);
  d.table.resize(static_cast<size_t>(d.up) * d.taps);
  std::vector<double> phase(d.taps);
  for (int p = 0; p < d.up; ++p) {
    // Tap k meets input sample floor(t) - (taps/2 - 1) + k; u is its distance from t in input samples.
    const double frac = static_cast<double>(p) / d.up;
    double sum = 0;
    for (int k = 0; k < d.taps; ++k) {
      const double u = frac + half - 1 - k;
      const double r = u / half;
      const double window = std::abs(r) <= 1 ? bessel_i0(beta * std::sqrt(1 - r * r)) / i0_beta : 0;
      const double a = 2 * cutoff * u;
      const double sinc = a == 0 ? 1 : std::sin(std::numbers::pi * a) / (std::numbers::pi * a);
      phase[k] = 2 * cutoff * sinc * window;
      sum += phase[k];
    }
    // Each phase sums to exactly 1: a constant input stays that constant, whatever the phase.
    for (int k = 0; k < d.taps; ++k) d.table[static_cast<size_t>(p) * d.taps + k] = static_cast<float>(phase[k] / sum);
  }
  lay_out_blocks(d);
  return d;
}

namespace {

// The input as the filter reads it: `front` zeros, the samples, then zeros.
struct PaddedInput {
  std::span<const float> samples;
  std::int64_t front;
  // Writes padded samples [begin, end), begin <= end, to out: zeros, the samples that fall inside, zeros
  // (the per-phase kernel copies the whole input this way).
  void copy(std::int64_t begin, std::int64_t end, float* out) const {
    const std::int64_t n = static_cast<std::int64_t>(samples.size());
    const std::int64_t lo = std::clamp(front, begin, end), hi = std::clamp(front + n, lo, end);
    std::fill(out, out + (lo - begin), 0.0f);
    std::copy(samples.begin() + (lo - front), samples.begin() + (hi - front), out + (lo - begin));
    std::fill(out + (hi - begin), out + (end - begin), 0.0f);
  }
  std::vector<float> copy(std::int64_t begin, std::int64_t end) const {
    if (end <= begin) return {};
    std::vector<float> out(static_cast<size_t>(end - begin));
    copy(begin, end, out.data());
    return out;
  }
};

// Super-periods 0 .. supers-1 of x (padded samples from a super-period's start on) into y, then the whole
// blocks of `partial` outputs of the next (run_blocks_body).
void run_blocks(const float* x, const PolyphaseDesign& d, std::int64_t supers, float* y, bool quantize,
                std::int64_t partial = 0) {
  if (supers > 0 || partial >= kBlock)
    simd::dispatch(run_blocks_v4, run_blocks_v3, run_blocks_baseline, x, d, supers, partial, y, quantize);
}

}  // namespace

std::int64_t polyphase_output_count(std::int64_t n_in, const PolyphaseDesign& d) {
  return (n_in * d.up + d.down / 2) / d.down;
}

void resample_polyphase_into(std::span<const float> in, const PolyphaseDesign& d, bool quantize, std::span<float> y) {
  const std::int64_t n_in = static_cast<std::int64_t>(in.size());
  const std::int64_t n_out = polyphase_output_count(n_in, d);
  if (static_cast<std::int64_t>(y.size()) != n_out) throw Error("resample", "output buffer of the wrong size");
  // Zeros before and after, so that every output's taps read inside the padded input.
  const PaddedInput padded{in, d.taps / 2 - 1};
  const std::int64_t padded_end = padded.front + n_in + d.taps + kLanes;
  if (d.blocks.empty()) {
    run_phases(padded.copy(0, padded_end).data(), d.table.data(), d.taps, d.up, d.down, n_out, y.data());
    if (quantize) quantize_16bit(y);
    return;
  }
  // Super-period t reads padded samples [t·SI, t·SI + reach). Those between the padding at both ends are
  // read in place; only the first and last few super-periods get a padded copy (copying the whole input
  // cost a tenth of the resampler's time, ~0.2 ms a clip).
  const std::int64_t supers = n_out / d.super_outputs, si = d.first_input(d.super_outputs);
  const std::int64_t reach = d.first_input(d.super_outputs - kBlock) + d.block_taps;
  const std::int64_t inner_begin = std::min(supers, (padded.front + si - 1) / si);
  const std::int64_t last_start = padded.front + n_in - reach;  // the latest start of an in-place super-period
  const std::int64_t inner_end = last_start < 0 ? inner_begin : std::clamp(last_start / si + 1, inner_begin, supers);
  run_blocks(padded.copy(0, inner_begin * si + reach).data(), d, inner_begin, y.data(), quantize);
  if (inner_end > inner_begin)
    run_blocks(in.data() + (inner_begin * si - padded.front), d, inner_end - inner_begin,
               y.data() + inner_begin * d.super_outputs, quantize);
  const std::vector<float> tail = padded.copy(inner_end * si, std::max(padded_end, supers * si + reach));
  const std::int64_t partial = n_out - supers * d.super_outputs;
  run_blocks(tail.data(), d, supers - inner_end, y.data() + inner_end * d.super_outputs, quantize, partial);
  run_outputs(tail.data(), inner_end * si, d, supers * d.super_outputs + partial / kBlock * kBlock, n_out, y.data(),
              quantize);
}

std::vector<float> resample_polyphase(std::span<const float> in, const PolyphaseDesign& d, bool quantize) {
  std::vector<float> y(static_cast<size_t>(polyphase_output_count(static_cast<std::int64_t>(in.size()), d)));
  resample_polyphase_into(in, d, quantize, y);
  return y;
}

}  // namespace genrenet
