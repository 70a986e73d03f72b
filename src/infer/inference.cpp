#include "infer/inference.h"

#include "compute/random_state.h"
#include "compute/torch_threads.h"

#include <algorithm>
#include <vector>

namespace genrenet {

std::vector<Precision> inference_candidates(bool calibrated, bool cuda) {
  if (cuda) return {Precision::Fp32, Precision::Bf16};
  std::vector<Precision> c = {Precision::Fp32, Precision::Fp32ChannelsLast, Precision::Bf16};
  if (calibrated) c.push_back(Precision::Int8);
  return c;
}

CandidateSpeed time_inference(InferenceNet& net, const ModelFile& model, Precision p, int batch, const Int8Calibration* cal,
                              double leader_clips_per_second) {
  net.set_precision(p, cal);
  const torch::Device device = net.device();
  torch::manual_seed(0);
  // One channel, as class_logits gives the network (the model's channels repeat it).
  const torch::Tensor x = torch::randn({batch, 1, model.features.n_mels, model.features.frames}).to(device);
  return time_candidate_steps(
      [&](int clips) {
        net.forward(x.narrow(0, 0, clips));
        if (device.is_cuda()) torch::cuda::synchronize();
      },
      batch, leader_clips_per_second);
}

InferenceNet fold_model_file(ModelFile& mf, bool release_weights) {
  ResNet model = load_model(mf);
  if (release_weights) mf.weights.clear();
  return InferenceNet(model);
}

InferenceNet make_inference_net(const ModelFile& mf, const ComputeOptions& compute, int batch, PrecisionChoice* choice,
                                bool force_measure, Workload* workload) {
  compute.validate();
  set_torch_threads(resolve_threads(compute.threads));
  ResNet model = load_model(mf);
  InferenceNet folded(model);
  model = nullptr;  // its parameters' memory goes to the int8 weights, if those are made
  return make_inference_net(std::move(folded), mf, compute, batch, choice, force_measure, workload);
}

namespace {

// `net` under the compute policy: threads set, on its device, at the precision `compute` asks for or ("auto")
// the fastest of `candidates` measured for the workload `kind` (cached).
InferenceNet apply_compute_policy(InferenceNet net, const ModelFile& mf, const ComputeOptions& compute, int batch,
                                  const std::string& kind, const std::vector<Precision>& candidates,
                                  PrecisionChoice* choice, bool force_measure, Workload* workload) {
  compute.validate();
  const bool cuda = compute.device == "cuda";
  if (cuda) require_cuda_device();
  const int threads = resolve_threads(compute.threads);
  set_torch_threads(threads);
  // The key says whether int8 is among the candidates (a model has int8 only once calibrated): a float-only
  // measurement is the same for a calibrated model and an uncalibrated one of the same architecture.
  const bool int8 = std::ranges::find(candidates, Precision::Int8) != candidates.end();
  Workload w;
  w.kind = kind;
  w.arch = mf.model.arch;
  w.input_channels = mf.model.input_channels;
  w.n_mels = mf.features.n_mels;
  w.frames = mf.features.frames;
  w.batch = batch;
  w.threads = threads;
  w.detail = std::string(int8 ? "int8 calibrated" : "not calibrated") + (cuda ? " | cuda" : "");
  if (cuda) net.to(torch::Device(torch::kCUDA));
  if (workload) *workload = w;
  PrecisionChoice c;
  {
    ScopedRandomState keep_random_sequence;  // the timed passes draw random inputs
    c = choose_precision(
        compute.precision, w, candidates,
        [&](Precision p, double leader) { return time_inference(net, mf, p, batch, &mf.int8, leader); }, force_measure);
  }
  net.set_precision(c.precision, &mf.int8);
  if (choice) *choice = c;
  return net;
}

}  // namespace

InferenceNet make_inference_net(InferenceNet net, const ModelFile& mf, const ComputeOptions& compute, int batch,
                                PrecisionChoice* choice, bool force_measure, Workload* workload) {
  return apply_compute_policy(std::move(net), mf, compute, batch, "inference",
                              inference_candidates(!mf.int8.empty(), compute.device == "cuda"), choice, force_measure,
                              workload);
}

InferenceNet make_float_inference_net(InferenceNet net, const ModelFile& mf, const ComputeOptions& compute, int batch) {
  const bool cuda = compute.device == "cuda";
  ComputeOptions float_compute = compute;
  float_compute.precision = "auto";
  return apply_compute_policy(std::move(net), mf, float_compute, batch, "float inference",
                              cuda ? std::vector<Precision>{Precision::Fp32}
                                   : std::vector<Precision>{Precision::Fp32, Precision::Fp32ChannelsLast},
                              nullptr, false, nullptr);
}

torch::Tensor class_logits(const InferenceNet& net, std::span<const Spectrogram> inputs, int batch) {
  std::vector<torch::Tensor> outs;
  const torch::Device device = net.device();
  for (size_t i = 0; i < inputs.size(); i += batch) {
    const size_t n = std::min<size_t>(batch, inputs.size() - i);
    // The spectrogram once: a 3-channel model's channels repeat it, and the network takes it as it is.
    torch::Tensor x = stack_spectrograms(inputs.subspan(i, n), 1).to(device);
    outs.push_back(net.forward(x).to(torch::kFloat32).cpu());
  }
  return torch::cat(outs).contiguous();
}

TuneResult tune_inference_precision(const TuneOptions& o) {
  if (o.batch < 1 || o.batch > 4096) throw Error("batch", "must be in [1, 4096], got " + std::to_string(o.batch));
  const int threads = resolve_threads(o.threads);
  ModelFile mf;
  if (!o.model_file.empty()) {
    mf = read_model_file(o.model_file);
  } else {
    // An untrained network of the paper's shape: speed does not depend on the weights' values.
    mf.model.arch = o.arch;
    mf.model.input_channels = o.input_channels;
    mf.model.validate();
    mf.classes.resize(mf.model.num_classes);
    ResNet m = make_model(mf.model);
    m->eval();
    mf.weights = state_dict(*m);
  }
  if (mf.int8.empty()) {
    // So that int8 is timed too: ranges from random inputs (speed does not depend on them either).
    ScopedRandomState keep_random_sequence;
    torch::manual_seed(0);
    ResNet model = load_model(mf);
    InferenceNet(model).observe(torch::randn({2, mf.model.input_channels, mf.features.n_mels, mf.features.frames}),
                                         mf.int8);
  }
  TuneResult r;
  measure_int8_engine_again();
  make_inference_net(mf, {"cpu", "auto", threads}, o.batch, &r.choice, /*force_measure=*/true, &r.workload);
  return r;
}

}  // namespace genrenet
