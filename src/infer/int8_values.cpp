#include "infer/int8_values.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/simd.h"

namespace genrenet {
namespace {

// round_half_even(y) for |y| < 2^22, in the default rounding mode: adding 1.5 * 2^23 leaves no fraction
// bits, so the sum is y rounded to an integer, and the subtraction is exact. Unlike std::nearbyint this
// vectorises without SSE4.1. y must be a rounded float product already: the clamp in the callers keeps the
// compiler from fusing the multiply into this addition (which would round only once).
inline float round_half_even(float y) {
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23
  return (y + kShift) - kShift;
}

// n values of x to integers in [qmin, qmax] (clamped as floats first, so that any finite input is in range
// of the rounding above).
template <class Q>
GENRENET_SIMD_CLONES void quantize_values(const float* x, Q* q, int64_t n, float inv_scale, int32_t zero_point, int32_t qmin,
                                          int32_t qmax) {
  const float lo = static_cast<float>(qmin - zero_point - 1), hi = static_cast<float>(qmax - zero_point + 1);
  for (int64_t i = 0; i < n; ++i) {
    const float y = std::min(hi, std::max(lo, x[i] * inv_scale));  // NaN (never expected) to lo
    const int32_t v = zero_point + static_cast<int32_t>(round_half_even(y));
    q[i] = static_cast<Q>(std::min(std::max(v, qmin), qmax));
  }
}

// The largest absolute value of n finite floats, by their bits: without the sign bit, finite floats order
// as their bit patterns do, and an integer maximum vectorises where a float one (NaN rules) does not.
GENRENET_SIMD_CLONES float max_abs(const float* x, int64_t n) {
  std::uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    m = std::max(m, bits & 0x7fffffffu);
  }
  float out;
  std::memcpy(&out, &m, sizeof out);
  return out;
}

}  // namespace

torch::Tensor quantize_activation(const torch::Tensor& x, double scale, int64_t zero_point) {
  const torch::Tensor xc = x.dim() == 4 ? x.to(torch::kFloat32).contiguous(torch::MemoryFormat::ChannelsLast)
                                        : x.to(torch::kFloat32).contiguous();
  const auto format = x.dim() == 4 ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  torch::Tensor q = at::_empty_affine_quantized(xc.sizes(), xc.options().dtype(torch::kQUInt8), scale, zero_point, format);
  // PyTorch's formula divides 1 by the scale as a float (quantize_val: 1.0f / static_cast<float>(scale)).
  const float inv_scale = 1.0f / static_cast<float>(scale);
  quantize_values(xc.data_ptr<float>(), reinterpret_cast<std::uint8_t*>(q.data_ptr()), xc.numel(), inv_scale,
                  static_cast<int32_t>(zero_point), 0, 255);
  return q;
}

torch::Tensor quantize_weight_per_channel(const torch::Tensor& weight) {
  const torch::Tensor w = weight.to(torch::kFloat32).contiguous();
  const int64_t channels = w.size(0), per_channel = channels ? w.numel() / channels : 0;
  const torch::Tensor scales = torch::empty({channels}, torch::kDouble);
  const torch::Tensor zero_points = torch::zeros({channels}, torch::kLong);
  const float* src = w.data_ptr<float>();
  double* s = scales.data_ptr<double>();
  for (int64_t c = 0; c < channels; ++c)  // as float tensors compute it: max(|w|, 1e-12f) / 127.0f
    s[c] = static_cast<double>(std::max(max_abs(src + c * per_channel, per_channel), 1e-12f) / 127.0f);
  torch::Tensor q = at::_empty_per_channel_affine_quantized(w.sizes(), scales, zero_points, 0,
                                                            w.options().dtype(torch::kQInt8));
  auto* dst = reinterpret_cast<std::int8_t*>(q.data_ptr());
  for (int64_t c = 0; c < channels; ++c)
    quantize_values(src + c * per_channel, dst + c * per_channel, per_channel, 1.0f / static_cast<float>(s[c]), 0, -128, 127);
  return q;
}

}  // namespace genrenet
