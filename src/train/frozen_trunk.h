// The frozen trunk of a training run: with the first layers frozen (the paper's best run freezes 8 of
// ResNet-18's 10 top-level modules: conv1 ... layer4), and their batch norms in eval mode, those layers
// compute a fixed function of the input, and only what follows them learns. So they need not run as a
// training network: FrozenTrunk runs them as the inference network does (batch norm folded, no autograd,
// channels_last, bf16 or int8 calibrated on training clips), in the precision the compute policy measures
// fastest for that, and only the rest of the network trains. "fp32" runs the training network's own modules
// without autograd, and so computes exactly what training without a trunk computes.
#pragma once

#include <optional>
#include <string>

#include <genrenet/inference.h>
#include <genrenet/train.h>

namespace genrenet {

// How much of `model` a frozen trunk can take: -1 when conv1 and bn1 do not both have every parameter frozen
// (or frozen batch norms update their statistics: frozen_bn_train), else the number of stages (layer1 ..
// layer4) after the stem whose parameters are all frozen, from the first: 0 .. 4.
int frozen_trunk_stages(ResNet& model, const FreezeOptions& freeze);

class FrozenTrunk {
 public:
  // Reads `model`'s weights as they are now (they are frozen: they never change). `precision` Int8 is
  // calibrated on `calibration_inputs` ([n, channels, n_mels, frames], CPU), which should be training clips.
  FrozenTrunk(ResNet model, int stages, Precision precision, torch::Device device,
              const torch::Tensor& calibration_inputs = {});
  // The trunk's output for model inputs x (on the device): fp32, without autograd. Every precision but Fp32
  // also takes the one channel that a 3-channel model's channels repeat (InferenceNet::forward).
  torch::Tensor forward(const torch::Tensor& x) const;
  // The rest of the network over a trunk output: the stages after the trunk, then the head.
  torch::Tensor rest(torch::Tensor a) const;
  int stages() const { return stages_; }
  Precision precision() const { return precision_; }
  // The int8 calibration made for the trunk (empty unless Int8): ranges of every point of the network.
  const Int8Calibration& calibration() const { return calibration_; }

 private:
  ResNet model_;
  int stages_;
  Precision precision_;
  std::optional<InferenceNet> net_;  // every precision but Fp32
  Int8Calibration calibration_;
};

// The trunk's precision for a run: config.trunk_precision as given ("off": nullopt), or for "auto" the
// fastest of the inference candidates at the run's batch and threads, measured on an untrained network of
// the run's shape and cached (compute.h); int8 is among them on the CPU.
// `force_measure` times the candidates even when the choice is cached (`genrenet tune --train`).
std::optional<Precision> choose_trunk_precision(const TrainConfig& config, const ModelOptions& model, int stages, int threads,
                                                PrecisionChoice* choice = nullptr, bool force_measure = false,
                                                Workload* workload = nullptr);

}  // namespace genrenet
