// Grad-CAM (Selvaraju et al., 2017) over the last convolutional stage of a ResNet: why the network names a
// class, as a map over its input.
#pragma once

#include <vector>

#include <genrenet/model.h>
#include <genrenet/weights.h>

namespace genrenet {

// layer4's output for `inputs`, without an autograd graph (Grad-CAM needs only the head's gradient).
torch::Tensor layer4_features(ResNet& model, const torch::Tensor& inputs);

// For each row i of layer4's output `a` and its class classes[i]: the gradient of the class score (the logit,
// before the softmax) with respect to `a`, averaged over a's positions, weighs a's channels; the map is
// ReLU(sum_k weight_k * a_k), upsampled bilinearly (align_corners false) to height x width, unnormalised, as
// PyTorch's hooks compute it. `model` must be in eval mode; it is only read (several threads may explain at
// once: the gradient is asked of autograd::grad, nothing accumulates in the parameters).
struct GradCamResult {
  torch::Tensor maps;    // [n, height, width], fp32
  torch::Tensor logits;  // [n, classes]
};
GradCamResult grad_cam_of_features(ResNet& model, const torch::Tensor& a, const std::vector<int64_t>& classes,
                                   int64_t height, int64_t width);

// Both steps for model inputs [n, channels, height, width].
GradCamResult grad_cam(ResNet& model, const torch::Tensor& inputs, const std::vector<int64_t>& classes);

}  // namespace genrenet
