// Whether float data holds a NaN or an infinity, checked fast: decoded audio and loaded weights are both
// checked before anything uses them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace genrenet {

// True when none of the n values is NaN or infinite (an all-ones exponent). Branch-free over the exponent
// bits, without an early exit, so that the loop vectorises.
inline bool all_finite(const float* x, std::size_t n) {
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    bad |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

}  // namespace genrenet
