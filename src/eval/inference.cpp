#include "eval/inference.h"

#include <algorithm>
#include <vector>

namespace genrenet {

torch::Tensor class_probabilities(ResNet& model, std::span<const Spectrogram> inputs, int channels, bool bf16,
                                  torch::Device device, int batch) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> outs;
  for (size_t i = 0; i < inputs.size(); i += batch) {
    const size_t n = std::min<size_t>(batch, inputs.size() - i);
    torch::Tensor x = stack_spectrograms(inputs.subspan(i, n), channels);
    if (bf16) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    x = x.to(device);
    Bf16Autocast ac(bf16, device.is_cuda());
    outs.push_back(torch::softmax(model->forward(x).to(torch::kFloat32), 1).cpu());
  }
  return torch::cat(outs).contiguous();
}

}  // namespace genrenet
