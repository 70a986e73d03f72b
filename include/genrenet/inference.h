// genrenet's inference network: a trained ResNet with its batch norms folded into the convolutions, run in
// fp32 (contiguous or channels_last), bf16 autocast, or int8 through LibTorch's quantized CPU operators.
//
//   InferenceNet net(model);                          // folds batch norm (eval mode)
//   Int8Calibration cal = net.calibrate(inputs);      // activation ranges on a few training clips
//   net.set_precision(Precision::Int8, &cal);         // per-channel int8 weights, fused ReLU
//   torch::Tensor logits = net.forward(x);
//
// Post-training static quantisation as PyTorch's eager mode does it (fold, fuse, observe, convert), written
// against the quantized operators that every LibTorch build registers (quantized::conv2d_relu,
// quantized::add_relu, ...), because eager-mode prepare/convert exists only in Python.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <genrenet/compute.h>
#include <genrenet/model.h>
#include <genrenet/weights.h>

namespace genrenet {

// The quantized engines this LibTorch build has, best first for x86 ("x86", "fbgemm", "onednn", "qnnpack").
std::vector<std::string> quantized_engines();

class InferenceNet {
 public:
  // Folds `model`'s batch norms (their running statistics) into its convolutions; the model is only read.
  explicit InferenceNet(ResNet& model);
  ~InferenceNet();
  InferenceNet(InferenceNet&&) noexcept;
  InferenceNet& operator=(InferenceNet&&) noexcept;

  // Fp32, Fp32ChannelsLast, Bf16 (autocast, channels_last) or Int8 (needs a calibration of this network;
  // throws Error naming the missing point or the engines available when none fits).
  void set_precision(Precision p, const Int8Calibration* calibration = nullptr);
  Precision precision() const;
  // Moves the float weights to `device` (int8 runs on the CPU only); device() is where they are.
  void to(torch::Device device);
  torch::Device device() const;

  // Logits [n, classes] (fp32) of inputs [n, channels, n_mels, frames], or of [n, 1, n_mels, frames] for a
  // model whose channels all repeat one spectrogram (genrenet's 3-channel models: stack_spectrograms), which
  // runs conv1 on it once instead of three times. Only reads the network: safe to call from several threads
  // at once.
  torch::Tensor forward(const torch::Tensor& x) const;
  // The activations after the stem and the first `stages` stages (0 .. 4; layer1 .. layer4), as fp32: the
  // frozen trunk of a training run whose first layers do not learn (FrozenTrunk, src/train). Int8 needs a
  // calibration with ranges up to there.
  torch::Tensor trunk(const torch::Tensor& x, int stages) const;
  // Runs inputs through the float network and widens `into`'s ranges to cover every point's activations.
  void observe(const torch::Tensor& x, Int8Calibration& into) const;

  const ModelOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct QuantizeReport {
  int files = 0, files_skipped = 0;  // calibration files used, and unreadable ones (warned about)
  int windows = 0;                   // model inputs observed
  double seconds = 0;
};

// Calibrates a model file for int8: the activation ranges of its inference network over every window of
// `clips` audio files (files, folders searched recursively, @lists; 0: all of them), chosen evenly over the
// sorted list so that each class folder of a dataset contributes; writes the model file with its calibration
// to `out` (default: in place, atomically). Use files from the model's training data.
QuantizeReport quantize_model_file(const std::filesystem::path& model, const std::vector<std::string>& audio,
                                   int clips = 32, const std::filesystem::path& out = {}, int threads = 0);

// `genrenet tune`: every inference precision timed for a model file's network (or, without one, an untrained
// `arch` with the paper's input shape) at `batch` on `threads`, and the fastest cached for "auto". int8 is
// timed too: a model without int8 ranges gets them from random inputs (the speed does not depend on them;
// the file is not changed). Training's counterpart is tune_training_precision (genrenet/train.h).
struct TuneOptions {
  std::string model_file;          // "" : an untrained `arch`
  std::string arch = "resnet18";   // without model_file
  int input_channels = 3;          // without model_file
  int batch = 16;                  // [1, 4096]
  int threads = 0;                 // 0: every core
};
struct TuneResult {
  PrecisionChoice choice;
  Workload workload;
};
TuneResult tune_inference_precision(const TuneOptions& options);

// `count` files evenly spaced over `files` (all of them when count <= 0 or >= their number).
std::vector<std::filesystem::path> spread_selection(const std::vector<std::filesystem::path>& files, int count);

}  // namespace genrenet
