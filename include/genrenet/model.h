// genrenet's network stage, for programs that train or run models with LibTorch directly.
// (genrenet.h is the pipeline API and needs no LibTorch headers; this one does.)
//
// ResNet-18/34/50 and SE-ResNet-50 with torchvision's module and parameter names, so that a torchvision
// (or timm) state dict maps one to one; batch norm across processes; bf16 autocast; layer freezing. Weight
// files and genrenet's own model file are genrenet/weights.h.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <genrenet/genrenet.h>

namespace genrenet {

// ---------------------------------------------------------------------------------------------------------
// Architectures (src/model/resnet.*)
// ---------------------------------------------------------------------------------------------------------

struct ModelOptions {
  // resnet18, resnet34, resnet50 or seresnet50.
  std::string arch = "resnet18";
  // Outputs of `fc`: 10 for GTZAN. [1, 100000]
  int num_classes = 10;
  // 3 (the default): the spectrogram repeated to three channels, as ImageNet weights expect. 1: the
  // spectrogram as it is, with conv1's ImageNet weights summed over RGB: the same logits, but measured
  // slower here in bf16 with channels_last (docs/PERFORMANCE.md), so it is not the default.
  int input_channels = 3;
  // Dropout before `fc`, [0, 1).
  double dropout = 0.0;
  void validate() const;
};

// Sums a tensor over every process of a data-parallel run, in place (src/train/distributed.cpp makes one).
using CrossProcessSum = std::function<void(torch::Tensor&)>;

// Batch norm over the channels of [batch, channels, height, width], computing exactly what
// torch::nn::BatchNorm2d computes, with its parameter and buffer names (weight, bias, running_mean,
// running_var, num_batches_tracked), so weight files are unchanged. Once given a CrossProcessSum it
// normalises in training mode with the mean and variance of the global batch (every process's), as
// PyTorch's SyncBatchNorm; the gradients flow through the sums. (Not derived from BatchNorm2dImpl:
// Debian's LibTorch does not export that template's base class.)
class SyncBatchNorm2dImpl : public torch::nn::Cloneable<SyncBatchNorm2dImpl> {
 public:
  explicit SyncBatchNorm2dImpl(int64_t num_features, double eps = 1e-5, double momentum = 0.1);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  int64_t num_features;
  double eps, momentum;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  CrossProcessSum sync;
};
TORCH_MODULE(SyncBatchNorm2d);

// Gives every SyncBatchNorm2d in `module` the cross-process sum (an empty one turns synchronisation off).
void set_batch_norm_sync(torch::nn::Module& module, const CrossProcessSum& sync);

// Squeeze-and-excitation (Hu et al.), as timm's SEModule: global average pool, 1x1 conv to channels/16,
// ReLU, 1x1 conv back, sigmoid, channel-wise scale. Parameter names fc1, fc2 as timm.
class SqueezeExcitationImpl : public torch::nn::Module {
 public:
  SqueezeExcitationImpl(int64_t channels, int64_t reduced);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SqueezeExcitation);

// torchvision's BasicBlock (ResNet-18/34).
class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride, bool downsample, bool se);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  SyncBatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
  SqueezeExcitation se{nullptr};
};
TORCH_MODULE(BasicBlock);

// torchvision's Bottleneck (ResNet-50): the stride sits on the 3x3 convolution ("ResNet v1.5"). With SE,
// the block is applied after bn3 and before the residual sum.
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(int64_t in_planes, int64_t planes, int64_t stride, bool downsample, bool se);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  SyncBatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
  SqueezeExcitation se{nullptr};
};
TORCH_MODULE(Bottleneck);

class ResNetImpl : public torch::nn::Module {
 public:
  // torchvision_init false: for weights about to be loaded over every parameter (load_model); skips
  // torchvision's re-initialisation, a pass of random numbers over every convolution.
  explicit ResNetImpl(const ModelOptions& options, bool torchvision_init = true);
  // x: [batch, input_channels, n_mels, frames] -> logits [batch, num_classes]; head(features(x)).
  torch::Tensor forward(torch::Tensor x);
  // The last convolutional stage's output (layer4): [batch, channels, n_mels/32, frames/32].
  torch::Tensor features(torch::Tensor x);
  // Global average pooling, dropout and fc over features(x): the logits.
  torch::Tensor head(const torch::Tensor& a);
  // features(x) in its parts: stem (conv1, bn1, relu, max-pool), then stage(0, ...) .. stage(3, ...) =
  // layer1 .. layer4. A frozen prefix of them runs as an inference network in training (FrozenTrunk).
  torch::Tensor stem(torch::Tensor x);
  torch::Tensor stage(int i, torch::Tensor x);
  const ModelOptions& options() const { return options_; }
  // Top-level children in torchvision's order: conv1, bn1, relu, maxpool, layer1..layer4, avgpool, fc.
  static const std::vector<std::string>& top_level_names();

  torch::nn::Conv2d conv1{nullptr};
  SyncBatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  ModelOptions options_;
};
TORCH_MODULE(ResNet);

// Builds a model with torchvision's initialisation (Kaiming-normal convolutions, BN weight 1 bias 0).
ResNet make_model(const ModelOptions& options);

// bf16 autocast for one scope, on the CPU (or the GPU with `cuda`); does nothing when not `enabled`.
// Master weights stay fp32; LibTorch's autocast picks the ops that run in bf16.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool enabled, bool cuda = false);
  ~Bf16Autocast();
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool enabled_, cuda_;
};

// Model inputs [n, channels, n_mels, frames] from n spectrograms of one shape; with 3 channels the
// spectrogram is repeated, as ImageNet weights expect.
torch::Tensor stack_spectrograms(std::span<const Spectrogram> inputs, int channels);

// Converts 4-D parameters and buffers to channels_last in place (LibTorch 1.13's Module has no
// to(MemoryFormat)).
void to_channels_last(torch::nn::Module& module);

// ---------------------------------------------------------------------------------------------------------
// Freezing (src/model/freeze.cpp)
// ---------------------------------------------------------------------------------------------------------

// The paper freezes "N layers" without saying which; these are three readings of it (docs/MODELS.md).
// The policies add up: a parameter is frozen if any of them selects it.
struct FreezeOptions {
  int children = 0;          // the first N top-level modules in torchvision's order (conv1, bn1, relu, ...)
  int params = 0;            // the first N parameter tensors in state-dict order
  std::string regex;         // parameter names matching this ECMAScript regex (whole name)
  bool frozen_bn_train = false;  // frozen batch norms update their running statistics too
  bool any() const { return children > 0 || params > 0 || !regex.empty(); }
};

// Sets requires_grad = false on the selected parameters; returns their names in order.
// Throws Error for a count above the number of children/parameters or a bad regex.
std::vector<std::string> freeze(ResNet& model, const FreezeOptions& options);

// model->train(on), except that batch norms whose parameters are all frozen stay in eval mode (their
// running statistics are kept) unless options.frozen_bn_train.
void set_training_mode(ResNet& model, bool on, const FreezeOptions& options);

}  // namespace genrenet
