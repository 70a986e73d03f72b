// The 16-bit rounding of AudioOptions::quantize_16bit: round(x * 32768) to nearest (ties to even, the sign of
// zero kept: nearbyint), clipped to the int16 range, over 32768. The scalar form is the definition (the pass
// over loaded audio); the vector form lets the resampler round its outputs in registers as it stores them,
// and gives the same bits (tests/test_resample.cpp compares them).
#pragma once

#include <cmath>
#include <cstdint>

namespace genrenet {

[[gnu::always_inline]] inline float quantize_16bit_sample(float x) {
  float q = std::nearbyint(x * 32768.0f);
  q = q < -32768.0f ? -32768.0f : (q > 32767.0f ? 32767.0f : q);
  return q * (1.0f / 32768.0f);
}

// V: a GCC/Clang vector of floats. Clipped first (the bounds are integers, so clipping and rounding commute),
// then rounded by adding and subtracting 1.5 * 2^23: the sum lies where float's spacing is 1, so the
// addition itself rounds to nearest, ties to even. That leaves +0 where nearbyint gives -0 (negative values
// that round to zero), so the input's sign bit is put back.
template <class V>
[[gnu::always_inline]] inline V quantize_16bit_vector(V x) {
  typedef std::int32_t Bits __attribute__((vector_size(sizeof(V))));
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  V q = x * 32768.0f;
  q = q < -32768.0f ? V{} - 32768.0f : q;
  q = q > 32767.0f ? V{} + 32767.0f : q;
  V r = (q + kRound) - kRound;
  r = reinterpret_cast<V>(reinterpret_cast<Bits>(r) | (reinterpret_cast<Bits>(q) & INT32_MIN));
  return r * (1.0f / 32768.0f);
}

}  // namespace genrenet
