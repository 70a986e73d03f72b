// The one batched forward pass of evaluation, prediction and serving, and the compute policy applied to it.
#pragma once

#include <span>

#include <genrenet/compute.h>
#include <genrenet/inference.h>

namespace genrenet {

// A model file's inference network, ready to run as `compute` says: threads set, the precision chosen
// ("auto": measured once per CPU and workload at this `batch`, then cached; int8 is a candidate when the
// model is calibrated), the network on its device. `choice` receives what was chosen and measured, `workload`
// what was measured; `force_measure` times the candidates even when the choice is cached (`genrenet tune`).
InferenceNet make_inference_net(const ModelFile& model, const ComputeOptions& compute, int batch,
                                PrecisionChoice* choice = nullptr, bool force_measure = false,
                                Workload* workload = nullptr);
// The same for a network already folded from the model file's weights (fp32, on the CPU): for a caller that
// releases the file's weights before folding (the Classifier), so that the network's tensors reuse their
// memory instead of fresh pages (docs/PERFORMANCE.md: fresh memory is most of a model load's cost).
InferenceNet make_inference_net(InferenceNet folded, const ModelFile& model, const ComputeOptions& compute, int batch,
                                PrecisionChoice* choice = nullptr, bool force_measure = false,
                                Workload* workload = nullptr);
// The same for values that must not depend on the machine (embeddings: an index holds files embedded on several
// machines): fp32 or fp32-cl, whichever is measured faster (workload kind "float inference"), never bf16 or
// int8, whatever `compute.precision` says; fp32 on a GPU.
InferenceNet make_float_inference_net(InferenceNet folded, const ModelFile& model, const ComputeOptions& compute,
                                      int batch);
// A model file's inference network in fp32: its training network built, folded and dropped. With
// `release_weights`, model.weights are cleared once copied into the training network (before the fold).
InferenceNet fold_model_file(ModelFile& model, bool release_weights);

// The inference candidates for a model: fp32, fp32-cl, bf16, and int8 when `calibrated` (CPU only).
std::vector<Precision> inference_candidates(bool calibrated, bool cuda);

// Clips per second of `net` on `batch` random inputs of the model's shape at precision `p`, on the network's
// device (time_candidate_steps: a warm-up pass, then the fastest of a few timed ones, or cut short when far
// behind `leader_clips_per_second`). The network is left at precision `p`.
CandidateSpeed time_inference(InferenceNet& net, const ModelFile& model, Precision p, int batch, const Int8Calibration* cal,
                              double leader_clips_per_second = 0);

// The int8 engine (LibTorch's quantized engine, and whether residual sums are fused into convolutions) is
// chosen once per process, at the first int8 network: GENRENET_INT8_ENGINE if set, else measured once per CPU
// and cached. int8_engines() lists this LibTorch's candidates, best first ("x86", "onednn-fused", ...);
// measure_int8_engine_again() asks the next int8 network to choose again, measuring even when cached
// (`genrenet tune`).
std::vector<std::string> int8_engines();
void measure_int8_engine_again();

// Logits [n, classes] (fp32, on the CPU) of n model inputs of one shape, `batch` at a time, computed on the
// network's device. Only reads the network: safe to call from several threads at once.
torch::Tensor class_logits(const InferenceNet& net, std::span<const Spectrogram> inputs, int batch = 16);

}  // namespace genrenet
