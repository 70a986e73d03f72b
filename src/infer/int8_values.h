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

// A convolution's fp32 weight [out, in, kh, kw] as symmetric per-output-channel qint8: each channel's scale
// is its largest absolute value / 127 (at least 1e-12 / 127), its zero point 0.
torch::Tensor quantize_weight_per_channel(const torch::Tensor& weight);

}  // namespace genrenet
