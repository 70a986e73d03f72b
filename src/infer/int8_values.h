// PyTorch's affine quantisation of float values, written as loops the compiler vectorises, and the stem's
// space-to-depth layout (below). Debian's LibTorch (no FBGEMM) quantises one value at a time through
// at::native::quantize_val: 0.4 ms per model input on the 2-core VM, on the critical path of every int8
// batch, and 35 ms for ResNet-18's weights at every model load. The integers are the same:
// q = clamp(zero_point + round_half_even(x * (1.0f / scale)), qmin, qmax) is quantize_val's formula and
// FBGEMM's (non-legacy Quantize), so tests/test_compute.cpp compares both against torch::quantize_per_tensor
// and torch::quantize_per_channel on either build.
#pragma once

#include <torch/torch.h>

namespace genrenet {

// x (any float tensor; 4-D ones in channels_last, as the int8 convolutions take them) as a per-tensor
// quint8 tensor with this scale and zero point.
torch::Tensor quantize_activation(const torch::Tensor& x, double scale, int64_t zero_point);

// q (quint8, contiguous or channels_last) as float in the same layout: float(q - zero point) * float(scale),
// LibTorch's values. Debian's LibTorch 1.13 (no FBGEMM) dequantises one value at a time: 2.7 ms for layer4's
// output of a 16-clip batch, with the other core waiting.
torch::Tensor dequantize_activation(const torch::Tensor& q);

// The stem in space-to-depth form. ResNet's stem, a 7x7 convolution of stride 2 and padding 3 over the
// one-channel spectrogram, gives the int8 kernels one input channel where they multiply groups of four
// (VNNI): three quarters of their work is padding; oneDNN's channels_last float kernels do no better with
// one channel. The same convolution over the input's 2x2 blocks as four channels is a 4x4 convolution of
// stride 1 — the same integer sums in int8 (the extra taps are zero weights, the padding the zero point), the
// same sums in another order in float. 16 inputs of 128x1024 on 2-core Zen 4 (LibTorch 1.13): int8 17
// against 29 ms, bf16 + channels_last 35 against 67, fp32 channels_last 66 against 114 (plain fp32 gains
// nothing: 112 against 103, so it keeps the direct form).
//
// space_to_depth: x [batch, 1, H, W] as [batch, 4, ceil(H/2) + 3, ceil(W/2) + 3] fp32 channels_last: channel
// 2a + b at (Y + 2, X + 2) holds x[2Y + a, 2X + b]; the border (two rows and columns before, one after, and
// the half block past an odd H or W) holds 0, the stem's padding.
// quantize_space_to_depth: the same, quantised as quantize_activation does (the border: the zero point).
torch::Tensor space_to_depth(const torch::Tensor& x);
torch::Tensor quantize_space_to_depth(const torch::Tensor& x, double scale, int64_t zero_point);
// The stem's weight [out, 1, 7, 7] for that input: [out, 4, 4, 4], to be used with stride 1 and no padding.
torch::Tensor space_to_depth_stem_weight(const torch::Tensor& weight);

// ResNet's max-pool after the stem (3x3, stride 2, padding 1) of one channels_last uint8 image [height, width,
// channels] into `out` [pooled_size(height), pooled_size(width), channels]: the values LibTorch's quantized
// max_pool2d gives (a maximum of integers), on LibTorch's threads. The int8 network pools each clip's stem
// output as soon as it is made, while it is in cache, into the batch's tensor (inference_net.cpp: why).
inline int64_t pooled_size(int64_t size) { return (size - 1) / 2 + 1; }
void max_pool_3x3_stride2(const std::uint8_t* in, int64_t height, int64_t width, int64_t channels, std::uint8_t* out);

// A convolution's fp32 weight [out, in, kh, kw] as symmetric per-output-channel qint8: each channel's scale
// is its largest absolute value / 127 (at least 1e-12 / 127), its zero point 0.
torch::Tensor quantize_weight_per_channel(const torch::Tensor& weight);

}  // namespace genrenet
