// A polyphase FIR resampler for rational rate ratios: output sample n is the dot product of one of L
// windowed-sinc phases with the input around n * M / L (L / M = to_rate / from_rate in lowest terms).
//
// Why not only libsoxr: for the ratios music comes in (22050 -> 16000 is 320/441, 44100 -> 16000 is 160/441)
// soxr's multi-stage design took 4.3 ms of a 30-s clip's 8 ms of features; one direct polyphase pass with
// the taps laid out for 16 outputs at once (a small matrix product) does the same filtering in half that
// (docs/PERFORMANCE.md). The filter is a Kaiser-windowed sinc whose passband, stopband and attenuation are
// the quality's (ResampleQuality), designed to soxr's bounds: passband to 91% of the lower Nyquist
// frequency, stopband from that Nyquist frequency, 100 dB attenuation at High.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <genrenet/genrenet.h>

#include "common/simd.h"

namespace genrenet {

struct PolyphaseDesign {
  int up = 1, down = 1;        // L and M
  int taps = 0;                // per phase, a multiple of 16
  double passband_hz = 0, stopband_hz = 0, attenuation_db = 0;
  simd::AlignedFloats table;   // up x taps coefficients, phase-major (on cache lines: read a vector at a time)
  // The same filter laid out for 16 consecutive outputs at once (see polyphase.cpp): a "super-period" of
  // super_outputs = lcm(16, L) outputs holds super_outputs / 16 blocks of 16 outputs; block b's outputs read
  // from input first_input(16 b) on, each with its phase shifted to its own start inside the block's
  // block_taps samples (zeros around it), stored tap-major: block_taps rows of 16 coefficients. Empty (and
  // super_outputs 0) where that table would be too large: then the per-phase kernel runs.
  int block_taps = 0;
  std::int64_t super_outputs = 0;
  simd::AlignedFloats blocks;

  // The first input sample (in the zero-padded input) that output n reads: n·M div L.
  std::int64_t first_input(std::int64_t n) const { return n * down / up; }
  // The taps output n is weighted by: phase n·M mod L of `table`.
  const float* phase_taps(std::int64_t n) const { return table.data() + (n * down % up) * taps; }
};

// The filter for from_rate -> to_rate at `quality`; throws Error when the ratio's table would be too large
// (more than 1 M coefficients: rates without a large common factor), where soxr is used instead.
PolyphaseDesign design_polyphase(int from_rate, int to_rate, ResampleQuality quality);

// Whether design_polyphase accepts these rates.
bool polyphase_supported(int from_rate, int to_rate, ResampleQuality quality);

// Resamples with a design; the output has round(in.size() * up / down) samples, sample 0 aligned with
// input sample 0 (no delay). With quantize_16bit, each output is rounded as quantize_16bit does as it is
// stored (the same values as a pass over the output afterwards, without reading it back).
std::vector<float> resample_polyphase(std::span<const float> in, const PolyphaseDesign& design,
                                      bool quantize_16bit = false);
// The same into `out`, which holds exactly polyphase_output_count(in.size(), design) samples.
std::int64_t polyphase_output_count(std::int64_t n_in, const PolyphaseDesign& design);
void resample_polyphase_into(std::span<const float> in, const PolyphaseDesign& design, bool quantize_16bit,
                             std::span<float> out);

// resample() with its outputs rounded to 16 bits: as it stores them (polyphase), or in a pass after it (libsoxr).
std::vector<float> resample(std::span<const float> in, int from_rate, int to_rate, ResampleQuality quality,
                            Resampler resampler, bool quantize_16bit);
// The same into `out` (resized to the output's length): a buffer kept for the next clip, which grows without
// being zero-filled first.
void resample_into(std::span<const float> in, int from_rate, int to_rate, ResampleQuality quality,
                   Resampler resampler, bool quantize_16bit, simd::ScratchFloats& out);

}  // namespace genrenet
