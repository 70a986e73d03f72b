// PyTorch's affine quantisation of float values, written as loops the compiler vectorises. Debian's
// LibTorch (no FBGEMM) quantises one value at a time through at::native::quantize_val: 0.4 ms per model
// input on the 2-core VM, on the critical path of every int8 batch, and 35 ms for ResNet-18's weights at
// every model load. The integers are the same: q = clamp(zero_point + round_half_even(x * (1.0f / scale)),
// qmin, qmax) is quantize_val's formula and FBGEMM's (non-legacy Quantize), so tests/test_model.cpp
// compares both against torch::quantize_per_tensor and torch::quantize_per_channel on either build.
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

// The int8 stem in space-to-depth form. ResNet's stem, a 7x7 convolution of stride 2 and padding 3 over the
// one-channel spectrogram, gives the int8 kernels one input channel where they multiply groups of four
// (VNNI): three quarters of their work is padding. The same convolution over the input's 2x2 blocks as four
// channels is a 4x4 convolution of stride 1 — the same integer sums (the extra taps are zero weights, the
// padding the zero point), in 0.6x the time (17 against 29 ms for 16 inputs of 128x1024, 2-core Zen 4).
//
// quantize_space_to_depth: x [batch, 1, H, W] quantised as quantize_activation does, laid out as
// [batch, 4, ceil(H/2) + 3, ceil(W/2) + 3] channels_last: channel 2a + b at (Y + 2, X + 2) holds x[2Y + a, 2X + b];
// the border (two rows and columns before, one after, and the half block past an odd H or W) holds the
// zero point, which is what the stem's zero padding quantises to.
torch::Tensor quantize_space_to_depth(const torch::Tensor& x, double scale, int64_t zero_point);
// The stem's weight [out, 1, 7, 7] for that input: [out, 4, 4, 4], to be used with stride 1 and no padding.
torch::Tensor space_to_depth_stem_weight(const torch::Tensor& weight);

// A convolution's fp32 weight [out, in, kh, kw] as symmetric per-output-channel qint8: each channel's scale
// is its largest absolute value / 127 (at least 1e-12 / 127), its zero point 0.
torch::Tensor quantize_weight_per_channel(const torch::Tensor& weight);

}  // namespace genrenet
