// Power spectra of many real frames at once.
//
// Why not a library: Debian offers FFTW (GPL, excluded), kissfft (BSD, scalar: 8.4 ms for a 30-s clip's
// 938 frames here) and LibTorch's pocketfft (26 ms for the same batch). An STFT is many FFTs of one size,
// so this one runs kBatch frames side by side, one per SIMD lane ("structure of arrays"): every butterfly
// is a plain vector operation with no shuffles, and the same code is compiled for AVX-512, AVX2 and SSE2
// and chosen at run time. It is a radix-4 (and a last radix-2) decimation-in-frequency FFT of n/2 complex
// points (two real samples packed into one complex one), in place and depth first so that each block of 64
// points is finished in L1, followed by the usual split into the real spectrum; its output stays in the
// FFT's digit-reversed order (slot()), which the mel filterbank reads through. Tests check it against a
// direct DFT in double precision.
#pragma once

#include <cstddef>
#include <vector>

namespace genrenet::features {

class BatchedPowerSpectrum {
 public:
  static constexpr int kBatch = 16;  // frames per call: one AVX-512 register of floats per point

  explicit BatchedPowerSpectrum(int n_fft);  // a power of two >= 4
  int n_fft() const { return n_; }
  int n_bins() const { return n_ / 2 + 1; }
  // `packed_re`/`packed_im` hold kBatch windowed real frames x_b, packed as z[p] = x[2p] + i x[2p+1]:
  // packed_re[p * kBatch + b] = x_b[2p], packed_im[p * kBatch + b] = x_b[2p + 1], for p < n_fft/2.
  // They are overwritten. Writes |X_b[k]|^2 to power[slot(k) * kBatch + b] for k <= n_fft/2: in the FFT's
  // own (digit-reversed) order, so that this step reads and writes memory in order; the mel filterbank reads
  // its bins through slot().
  void compute(float* packed_re, float* packed_im, float* power) const;
  // The same for kBatch frames read from a panel, framed, windowed and packed on the way into the FFT's
  // first stage: sample j of frame b is panel[at[j] + b] (j < n_fft), weighted by window[j]. `re` and `im`
  // are scratch (n_fft/2 * kBatch floats each). For n_fft divisible by 8.
  void compute_from_panel(const float* panel, const int* at, const float* window, float* re, float* im,
                          float* power) const;
  int slot(int k) const { return slot_[k]; }
  const int* slots() const { return slot_.data(); }  // n_fft/2 + 1 of them

 private:
  void transform(float* re, float* im, int len) const;  // in place, X[k] left at position_[k]
  // The rest of a transform of len points after its first radix-4 stage: the four quarters, each in turn.
  void transform_quarters(float* re, float* im, int len) const;
  void write_power(const float* re, const float* im, float* power) const;  // the split, into slot order

  int n_, m_;
  std::vector<float> twiddle_re_, twiddle_im_;  // exp(-2 pi i j / m), j < m
  std::vector<float> split_re_, split_im_;      // exp(-2 pi i k / n), k <= m
  std::vector<int> position_;                   // where Z[k] is left by the FFT, k < m (Z[m] = Z[0])
  std::vector<int> slot_;                       // where |X[k]|^2 goes: position_[k], and m for k = m
  std::vector<int> pair_bins_;                  // the bins k <= m/2 in the order of their positions
};

}  // namespace genrenet::features
