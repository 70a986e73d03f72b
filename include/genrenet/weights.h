// genrenet/weights.h — weights on disk: foreign weight files (.pth, .safetensors) loaded into genrenet's
// networks with a report, the ImageNet weights' cache and download, and genrenet's own model file (the
// weights with everything needed to use them). Needs LibTorch headers, like genrenet/model.h.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <genrenet/genrenet.h>
#include <genrenet/model.h>

namespace genrenet {

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
