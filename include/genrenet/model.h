// genrenet's network stage, for programs that train or run models with LibTorch directly.
// (genrenet.h is the pipeline API and needs no LibTorch headers; this one does.)
//
// ResNet-18/34/50 and SE-ResNet-50 with torchvision's module and parameter names, so that a torchvision
// (or timm) state dict maps one to one; weight files (.pth, .safetensors); layer freezing; and genrenet's
// own model file.
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
  explicit ResNetImpl(const ModelOptions& options);
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

// ---------------------------------------------------------------------------------------------------------
// Weight files (src/io/safetensors.cpp, src/io/pth_reader.cpp, src/model/weights.cpp)
// ---------------------------------------------------------------------------------------------------------

using TensorMap = std::map<std::string, torch::Tensor>;  // sorted names -> CPU tensors

struct WeightFile {
  TensorMap tensors;
  std::map<std::string, std::string> metadata;  // safetensors __metadata__; empty for .pth
};

// A PyTorch checkpoint: the zip format of torch.save (1.6+) or the legacy format. Reads tensors only: a
// pickle that names any global other than the tensor-rebuild functions, storage types and OrderedDict is
// refused. A state dict nested under "state_dict" or "model" is found too.
TensorMap read_pth(const std::filesystem::path& path);
WeightFile read_safetensors(const std::filesystem::path& path);
void write_safetensors(const std::filesystem::path& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// By extension: .safetensors, otherwise a PyTorch checkpoint.
WeightFile read_weights(const std::filesystem::path& path);

// The architecture a state dict belongs to (resnet18, resnet34, resnet50, seresnet50), or "" if none.
std::string detect_architecture(const TensorMap& tensors);

struct LoadReport {
  std::vector<std::string> loaded, missing, unexpected, skipped;  // skipped: fc of another class count
  std::string summary() const;
};

// Copies matching tensors into the model. conv1 weights of 3 channels are summed over RGB for a
// 1-channel model. A 1000-class (or any other count) fc is skipped when num_classes differs. Any other
// shape mismatch is an Error naming the tensor; missing or unexpected keys are reported, and are errors
// when `strict`.
LoadReport load_weights(ResNet& model, const TensorMap& tensors, bool strict = false);

// A copy of the model's state dict (parameters and buffers) as contiguous CPU tensors.
TensorMap state_dict(const torch::nn::Module& model);

// torchvision's ImageNet file for `arch` ("resnet18" -> resnet18-f37072fd.pth) and its official address.
struct PretrainedSource {
  std::string file_name, url, sha256_prefix;
};
PretrainedSource imagenet_source(const std::string& arch);
// $TORCH_HOME/hub/checkpoints (default ~/.cache/torch/hub/checkpoints).
std::filesystem::path torch_hub_checkpoints_dir();
// The cached file if present; otherwise downloads it (progress bar, SHA-256 prefix check, atomic) unless
// `allow_download` is false. `url_override` replaces the official address (tests, mirrors).
std::filesystem::path fetch_imagenet_weights(const std::string& arch, bool allow_download = true,
                                             const std::string& url_override = "");
// The same for any source: the file in the cache, or downloaded from src.url and kept only if its SHA-256
// starts with src.sha256_prefix.
std::filesystem::path fetch_weights(const PretrainedSource& src, bool allow_download = true);
// Lower-case hex SHA-256 of a file.
std::string sha256_file(const std::filesystem::path& path);

// ---------------------------------------------------------------------------------------------------------
// genrenet's model file (src/model/model_file.cpp)
// ---------------------------------------------------------------------------------------------------------

// The activation range of every quantisation point of a network (input, each convolution's output, each
// block's sum), measured on calibration clips; stored in the model file (metadata "int8").
struct Int8Calibration {
  std::map<std::string, std::pair<float, float>> ranges;  // point -> [min, max]
  int clips = 0;                                         // calibration inputs seen
  std::string method = "minmax";
  bool empty() const { return ranges.empty(); }
  std::string to_json() const;
  // Throws Error(subject, ...) on a malformed text.
  static Int8Calibration from_json(const std::string& text, const std::string& subject = "int8 calibration");
};

// ConfidenceCalibration (how far the probabilities can be trusted) is in genrenet/genrenet.h, so that
// genrenet/classifier.h can hand it out without LibTorch headers.

// The weights as safetensors (readable from Python) with everything needed to use them in __metadata__:
// the model options, class names, feature options, and free-form training information (JSON strings).
struct ModelFile {
  ModelOptions model;
  std::vector<std::string> classes;
  FeatureOptions features;
  std::string training_json = "{}";  // the training config, epoch, metrics, ...
  Int8Calibration int8;               // empty until `genrenet quantize` (genrenet/inference.h)
  ConfidenceCalibration calibration;  // empty until calibrated (at the end of `genrenet train`)
  TensorMap weights;
};

void save_model_file(const std::filesystem::path& path, const ModelFile& file);  // atomic
ModelFile read_model_file(const std::filesystem::path& path);
// A ready model from a model file, in eval mode.
ResNet load_model(const ModelFile& file);

// A genrenet model file made from foreign weights (torchvision, timm, another genrenet file's): the
// architecture checked against (or detected from) the tensors, a model with a head for `classes`, every
// tensor that fits loaded (an fc for another class count is left to training), written to `out` (atomic).
struct ImportOptions {
  std::string arch;                  // "" : detected from the tensors' names and shapes
  std::vector<std::string> classes;  // output names, in output order (at least one)
  int input_channels = 3;            // 1: conv1's ImageNet weights summed over RGB
  FeatureOptions features;           // stored in the file: how audio becomes this model's input
};
struct ImportedModel {
  ModelOptions model;
  LoadReport report;
};
ImportedModel import_weights(const std::filesystem::path& weights, const std::filesystem::path& out,
                             const ImportOptions& options);

}  // namespace genrenet
