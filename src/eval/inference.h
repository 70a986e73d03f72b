// The one batched forward pass of evaluation and prediction: softmax probabilities of model inputs.
#pragma once

#include <span>

#include <genrenet/model.h>

namespace genrenet {

// Softmax probabilities [n, classes] (fp32, on the CPU) of n model inputs of one shape, `batch` at a time,
// in bf16 autocast with channels_last when `bf16`. Only reads the model (eval mode, no gradients): safe to
// call from several threads at once, since autocast state is per thread.
torch::Tensor class_probabilities(ResNet& model, std::span<const Spectrogram> inputs, int channels, bool bf16,
                                  torch::Device device = torch::kCPU, int batch = 16);

}  // namespace genrenet
