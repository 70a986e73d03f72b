// Training's precision: fp32, fp32 channels_last or bf16 autocast + channels_last, "auto" chosen by timing a
// few real training steps (forward, cross-entropy, backward, Adam) of the run's own model, freezing, batch and
// thread count, on random inputs, so that the choice reflects this CPU and this workload.
#include <algorithm>

#include <genrenet/train.h>

#include "compute/random_state.h"
#include "infer/inference.h"
#include "train/frozen_trunk.h"
#include "train/training_workload.h"
#include "compute/torch_threads.h"

namespace genrenet {

CandidateSpeed time_training_steps(const TrainConfig& config, const ModelOptions& mo, Precision p,
                                   double leader_clips_per_second) {
  const bool cuda = config.device == "cuda";
  const torch::Device device = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  torch::manual_seed(0);
  ResNet model = make_model(mo);
  freeze(model, config.freeze);
  set_training_mode(model, true, config.freeze);
  model->to(device);
  const bool channels_last = uses_channels_last(p), bf16 = p == Precision::Bf16;
  if (channels_last) to_channels_last(*model);
  std::vector<torch::Tensor> trainable;
  for (auto& t : model->parameters())
    if (t.requires_grad()) trainable.push_back(t);
  torch::optim::Adam opt(trainable, torch::optim::AdamOptions(config.lr));
  const int batch = config.batch;
  torch::Tensor x = torch::randn({batch, mo.input_channels, config.features.n_mels, config.features.frames}).to(device);
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor y = torch::randint(mo.num_classes, {batch}, torch::kInt64).to(device);
  auto step = [&](int clips) {
    opt.zero_grad();
    torch::Tensor logits;
    {
      Bf16Autocast ac(bf16, cuda);
      logits = model->forward(x.narrow(0, 0, clips));
    }
    torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), y.narrow(0, 0, clips)).backward();
    opt.step();
    if (cuda) torch::cuda::synchronize();
  };
  return time_candidate_steps(step, batch, leader_clips_per_second);
}

PrecisionChoice choose_training_precision(const TrainConfig& config, const ModelOptions& mo, int threads,
                                          bool force_measure, Workload* workload) {
  // An explicit precision needs neither the workload's key nor a measurement.
  if (config.precision != "auto" && !force_measure) {
    PrecisionChoice explicit_choice;
    explicit_choice.precision = parse_precision(config.precision);
    return explicit_choice;
  }
  ScopedRandomState keep_random_sequence;  // the probe network and the timed steps draw random numbers
  const bool cuda = config.device == "cuda";
  Workload w = training_workload("training", config, mo, threads);
  {
    // How much trains changes the answer (a frozen network is mostly a forward pass).
    ResNet probe = make_model(mo);
    freeze(probe, config.freeze);
    size_t trainable = 0, total = 0;
    for (auto& t : probe->parameters()) {
      ++total;
      if (t.requires_grad()) ++trainable;
    }
    w.detail = std::to_string(trainable) + "/" + std::to_string(total) + " parameter tensors trainable" +
               (cuda ? " | cuda" : "");
  }
  if (workload) *workload = w;
  const std::vector<Precision> candidates =
      cuda ? std::vector<Precision>{Precision::Fp32, Precision::Bf16}
           : std::vector<Precision>{Precision::Fp32, Precision::Fp32ChannelsLast, Precision::Bf16};
  return choose_precision(config.precision, w, candidates,
                          [&](Precision p, double leader) { return time_training_steps(config, mo, p, leader); }, force_measure);
}

namespace {

TrainingTuneResult tune_training(const TrainingTuneOptions& o, int threads) {
  TrainConfig config;
  config.data = "(tune)";
  config.batch = o.batch;
  config.threads = threads;
  config.freeze.children = o.freeze_children;
  if (!o.model_file.empty()) {
    const ModelFile mf = read_model_file(o.model_file);
    config.model = mf.model;
    config.features = mf.features;
  } else {
    config.model.arch = o.arch;
    config.model.input_channels = o.input_channels;
  }
  config.validate();
  TrainingTuneResult r;
  r.choice = choose_training_precision(config, config.model, threads, /*force_measure=*/true, &r.workload);
  ResNet probe = make_model(config.model);
  freeze(probe, config.freeze);
  const int stages = frozen_trunk_stages(probe, config.freeze);
  if (stages >= 0) {
    PrecisionChoice trunk;
    choose_trunk_precision(config, config.model, stages, threads, &trunk, /*force_measure=*/true, &r.trunk_workload);
    r.trunk = trunk;
  }
  return r;
}

}  // namespace

TrainingTuneResult tune_training_precision(const TrainingTuneOptions& o) {
  if (o.batch < 1 || o.batch > 4096) throw Error("batch", "must be in [1, 4096], got " + std::to_string(o.batch));
  const int threads = resolve_threads(o.threads);
  set_torch_threads(threads);
  return tune_training(o, threads);
}

}  // namespace genrenet
