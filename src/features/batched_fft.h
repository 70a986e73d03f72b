// Power spectra of many real frames at once.
//
// Why not a library: Debian offers FFTW (GPL, excluded), kissfft (BSD, scalar: 8.4 ms for a 30-s clip's
// 938 frames here) and LibTorch's pocketfft (26 ms for the same batch). An STFT is many FFTs of one size,
// so this one runs kBatch frames side by side, one per SIMD lane ("structure of arrays"): every butterfly
// is a plain vector operation with no shuffles, and the same code is compiled for AVX-512, AVX2 and SSE2
// and chosen at run time. It is a radix-4 (and a last radix-2) Stockham FFT of n/2 complex points (two real samples packed into
// one complex one) followed by the usual split into the real spectrum. Tests check it against a direct
// DFT in double precision.
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
  // Floats of scratch space that compute() needs.
  std::size_t scratch_floats() const { return static_cast<std::size_t>(4) * m_ * kBatch; }

  // `packed_re`/`packed_im` hold kBatch windowed real frames x_b, packed as z[p] = x[2p] + i x[2p+1]:
  // packed_re[p * kBatch + b] = x_b[2p], packed_im[p * kBatch + b] = x_b[2p + 1], for p < n_fft/2.
  // They are overwritten. Writes |X_b[k]|^2 to power[k * kBatch + b] for k <= n_fft/2.
  void compute(float* packed_re, float* packed_im, float* scratch, float* power) const;

 private:
  int n_, m_;
  std::vector<float> twiddle_re_, twiddle_im_;  // exp(-2 pi i j / m), j < m
  std::vector<float> split_re_, split_im_;      // exp(-2 pi i k / n), k <= m
};

}  // namespace genrenet::features
