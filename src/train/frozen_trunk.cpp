#include "train/frozen_trunk.h"

#include <algorithm>

#include <genrenet/compute.h>

#include "compute/random_state.h"
#include "infer/inference.h"
#include "train/training_workload.h"

namespace genrenet {
namespace {

bool all_frozen(const torch::nn::Module& m) {
  for (const auto& p : m.parameters())
    if (p.requires_grad()) return false;
  return true;
}

// Observes the float network over `inputs` a batch at a time: the activation ranges for int8.
Int8Calibration calibrate(const InferenceNet& net, const torch::Tensor& inputs) {
  Int8Calibration cal;
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < inputs.size(0); i += 16) net.observe(inputs.narrow(0, i, std::min<int64_t>(16, inputs.size(0) - i)), cal);
  return cal;
}

}  // namespace

int frozen_trunk_stages(ResNet& model, const FreezeOptions& freeze) {
  if (freeze.frozen_bn_train || !all_frozen(*model->conv1) || !all_frozen(*model->bn1)) return -1;
  int stages = 0;
  for (const auto& layer : {model->layer1, model->layer2, model->layer3, model->layer4}) {
    if (!all_frozen(*layer)) break;
    ++stages;
  }
  return stages;
}

FrozenTrunk::FrozenTrunk(ResNet model, int stages, Precision precision, torch::Device device,
                         const torch::Tensor& calibration_inputs)
    : model_(std::move(model)), stages_(stages), precision_(precision) {
  if (stages < 0 || stages > 4) throw Error("frozen trunk", "0 to 4 stages, not " + std::to_string(stages));
  if (precision == Precision::Fp32) return;  // the training network's own modules
  if (precision == Precision::Int8 && device.is_cuda())
    throw Error("training option trunk_precision", "int8 runs on the CPU only; use bf16 or fp32 with --device cuda");
  InferenceNet net(model_);
  if (precision == Precision::Int8) {
    if (!calibration_inputs.defined() || calibration_inputs.size(0) == 0)
      throw Error("training option trunk_precision", "int8: no training clips to calibrate the trunk on");
    calibration_ = calibrate(net, calibration_inputs.to(torch::kFloat32));
  }
  net.set_precision(precision, &calibration_);
  if (device.is_cuda()) net.to(device);
  net_.emplace(std::move(net));
}

torch::Tensor FrozenTrunk::forward(const torch::Tensor& x) const {
  if (net_) return net_->trunk(x, stages_);
  // The same modules and operations as ResNetImpl::features, so the same numbers; no graph is recorded.
  torch::NoGradGuard no_grad;
  torch::Tensor a = model_.ptr()->stem(x);
  for (int i = 0; i < stages_; ++i) a = model_.ptr()->stage(i, a);
  return a;
}

torch::Tensor FrozenTrunk::rest(torch::Tensor a) const {
  for (int i = stages_; i < 4; ++i) a = model_.ptr()->stage(i, a);
  return model_.ptr()->head(a);
}

std::optional<Precision> choose_trunk_precision(const TrainConfig& config, const ModelOptions& mo, int stages, int threads,
                                                PrecisionChoice* choice, bool force_measure, Workload* workload) {
  if (config.trunk_precision == "off") return std::nullopt;
  const bool cuda = config.device == "cuda";
  Workload w = training_workload("frozen trunk", config, mo, threads);
  w.detail = "stem + " + std::to_string(stages) + " stages" + (cuda ? " | cuda" : "");
  if (workload) *workload = w;
  // Int8 is always a candidate: the trunk is calibrated on training clips when it is chosen.
  const std::vector<Precision> candidates = inference_candidates(/*calibrated=*/true, cuda);
  PrecisionChoice c;
  {
    ScopedRandomState keep_random_sequence;  // the probe network and its inputs draw random numbers
    std::optional<ResNet> probe;
    std::optional<torch::Tensor> inputs;
    const torch::Device device = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
    auto timer = [&](Precision p, double leader) {
      if (!probe) {
        // Speed does not depend on the weights' values: an untrained network of the run's shape.
        torch::manual_seed(0);
        probe = make_model(mo);
        freeze(*probe, config.freeze);
        set_training_mode(*probe, true, config.freeze);
        (*probe)->to(device);
        inputs = torch::randn({config.batch, mo.input_channels, config.features.n_mels, config.features.frames});
      }
      const FrozenTrunk trunk(*probe, stages, p, device, inputs->narrow(0, 0, std::min<int64_t>(2, inputs->size(0))));
      // The inputs the trainer gives each (Trainer::input_channels): the inference network takes one channel.
      const torch::Tensor x = (p == Precision::Fp32 ? *inputs : inputs->narrow(1, 0, 1).contiguous()).to(device);
      return time_candidate_steps(
          [&](int clips) {
            trunk.forward(x.narrow(0, 0, clips));
            if (cuda) torch::cuda::synchronize();
          },
          config.batch, leader);
    };
    c = choose_precision(config.trunk_precision, w, candidates, timer, force_measure);
  }
  if (choice) *choice = c;
  return c.precision;
}

}  // namespace genrenet
