#include "infer/int8_values.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <ATen/Parallel.h>

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

GENRENET_SIMD_CLONES void dequantize_values(const std::uint8_t* q, float* x, int64_t n, float scale, int32_t zero_point) {
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<int32_t>(q[i]) - zero_point) * scale;
}

// ResNet's max-pool (3x3, stride 2, padding 1) of channels_last uint8 rows, in two passes over each output
// row: the largest of its (up to) three input rows, value by value, then of three neighbouring pixels in that.
// Padding is never the largest (LibTorch's pool skips it too), so a missing row or column repeats one inside.
GENRENET_SIMD_CLONES void max_of_rows(const std::uint8_t* a, const std::uint8_t* b, const std::uint8_t* c,
                                      std::uint8_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::max(std::max(a[i], b[i]), c[i]);
}

GENRENET_SIMD_CLONES void max_of_pixel_triples(const std::uint8_t* row, int64_t width, int64_t channels,
                                               std::uint8_t* out, int64_t out_width) {
  for (int64_t x = 0; x < out_width; ++x) {
    const std::uint8_t* mid = row + 2 * x * channels;
    const std::uint8_t* left = x > 0 ? mid - channels : mid;
    const std::uint8_t* right = 2 * x + 1 < width ? mid + channels : mid;
    for (int64_t k = 0; k < channels; ++k) out[x * channels + k] = std::max(std::max(left[k], mid[k]), right[k]);
  }
}

// One row of the stem's 2x2 blocks (channels_last, four values a block) from two input rows of `width`
// values: block X holds first[2X], first[2X + 1], second[2X], second[2X + 1]; `pad` past an odd width, and in
// place of a missing second row (nullptr).
template <class T>
void write_block_row(const T* first, const T* second, T* blocks, int64_t width, T pad) {
  const int64_t whole = width / 2;
  for (int64_t x = 0; x < whole; ++x) {
    blocks[4 * x] = first[2 * x];
    blocks[4 * x + 1] = first[2 * x + 1];
    blocks[4 * x + 2] = second ? second[2 * x] : pad;
    blocks[4 * x + 3] = second ? second[2 * x + 1] : pad;
  }
  if (width % 2) {
    T* last = blocks + 4 * whole;
    last[0] = first[width - 1];
    last[1] = pad;
    last[2] = second ? second[width - 1] : pad;
    last[3] = pad;
  }
}

// The blocks of every image of x [batch, 1, H, W] into `out` ([batch, 4, ceil(H/2) + 3, ceil(W/2) + 3]
// channels_last, already filled with the padding value); `rows(b, y)` gives image b's rows 2y and 2y + 1 as a
// pair of pointers (the second nullptr past an odd height).
template <class T, class Rows>
void fill_blocks(T* out, int64_t batch, int64_t height, int64_t width, T pad, Rows&& rows) {
  const int64_t block_rows = (height + 1) / 2 + 3, block_cols = (width + 1) / 2 + 3;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t y = 0; 2 * y < height; ++y) {
      auto [first, second] = rows(b, y);
      write_block_row(first, second, out + ((b * block_rows + y + 2) * block_cols + 2) * 4, width, pad);
    }
}

std::vector<int64_t> block_sizes(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == 1, "space to depth: expected [batch, 1, height, width], got ", x.sizes());
  return {x.size(0), 4, (x.size(2) + 1) / 2 + 3, (x.size(3) + 1) / 2 + 3};
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

torch::Tensor dequantize_activation(const torch::Tensor& q) {
  const auto format = q.dim() == 4 && !q.is_contiguous() ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  if (q.scalar_type() != torch::kQUInt8 || q.qscheme() != torch::kPerTensorAffine || !q.is_contiguous(format))
    return q.dequantize();
  torch::Tensor out = torch::empty(q.sizes(), q.options().dtype(torch::kFloat32), format);
  dequantize_values(reinterpret_cast<const std::uint8_t*>(q.data_ptr()), out.data_ptr<float>(), q.numel(),
                    static_cast<float>(q.q_scale()), static_cast<int32_t>(q.q_zero_point()));
  return out;
}

torch::Tensor quantize_space_to_depth(const torch::Tensor& x, double scale, int64_t zero_point) {
  const std::vector<int64_t> sizes = block_sizes(x);
  const torch::Tensor xc = x.to(torch::kFloat32).contiguous();
  const int64_t height = xc.size(2), width = xc.size(3);
  torch::Tensor q = at::_empty_affine_quantized(sizes, xc.options().dtype(torch::kQUInt8), scale, zero_point,
                                                torch::MemoryFormat::ChannelsLast);
  auto* out = reinterpret_cast<std::uint8_t*>(q.data_ptr());
  const auto zp = static_cast<std::uint8_t>(zero_point);
  std::memset(out, zp, static_cast<size_t>(q.numel()));
  const float inv_scale = 1.0f / static_cast<float>(scale);
  std::vector<std::uint8_t> two_rows(2 * static_cast<size_t>(width));  // quantised, then laid out as blocks
  fill_blocks(out, xc.size(0), height, width, zp, [&](int64_t b, int64_t y) {
    const bool second = 2 * y + 1 < height;
    quantize_values(xc.data_ptr<float>() + (b * height + 2 * y) * width, two_rows.data(), (second ? 2 : 1) * width,
                    inv_scale, static_cast<int32_t>(zero_point), 0, 255);
    return std::pair<const std::uint8_t*, const std::uint8_t*>(two_rows.data(), second ? two_rows.data() + width : nullptr);
  });
  return q;
}

torch::Tensor space_to_depth(const torch::Tensor& x) {
  const std::vector<int64_t> sizes = block_sizes(x);
  const torch::Tensor xc = x.to(torch::kFloat32).contiguous();
  const int64_t height = xc.size(2), width = xc.size(3);
  torch::Tensor out = torch::empty(sizes, xc.options(), torch::MemoryFormat::ChannelsLast).zero_();
  const float* in = xc.data_ptr<float>();
  fill_blocks(out.data_ptr<float>(), xc.size(0), height, width, 0.0f, [&](int64_t b, int64_t y) {
    const float* first = in + (b * height + 2 * y) * width;
    return std::pair<const float*, const float*>(first, 2 * y + 1 < height ? first + width : nullptr);
  });
  return out;
}

torch::Tensor space_to_depth_stem_weight(const torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 4 && weight.size(1) == 1 && weight.size(2) == 7 && weight.size(3) == 7,
              "space to depth: expected a [out, 1, 7, 7] stem weight, got ", weight.sizes());
  const int64_t out = weight.size(0);
  // Tap u of the 7 (offset u - 3) is 2i + a - 4 with block offset i - 2 in -2..1 and a in {0, 1}: the 8x8
  // kernel with a zero first row and column, split into its 2x2 phases.
  torch::Tensor padded = torch::zeros({out, 1, 8, 8}, weight.options());
  padded.narrow(2, 1, 7).narrow(3, 1, 7).copy_(weight);
  return padded.view({out, 4, 2, 4, 2}).permute({0, 2, 4, 1, 3}).reshape({out, 4, 4, 4}).contiguous();
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

void max_pool_3x3_stride2(const std::uint8_t* in, int64_t height, int64_t width, int64_t channels, std::uint8_t* out) {
  const int64_t out_height = pooled_size(height), out_width = pooled_size(width), row = width * channels;
  at::parallel_for(0, out_height, 4, [&](int64_t begin, int64_t end) {
    std::vector<std::uint8_t> rows(static_cast<size_t>(row));
    for (int64_t y = begin; y < end; ++y) {
      const std::uint8_t* mid = in + 2 * y * row;
      const std::uint8_t* above = y > 0 ? mid - row : mid;
      const std::uint8_t* below = 2 * y + 1 < height ? mid + row : mid;
      max_of_rows(above, mid, below, rows.data(), row);
      max_of_pixel_triples(rows.data(), width, channels, out + y * out_width * channels, out_width);
    }
  });
}

}  // namespace genrenet
