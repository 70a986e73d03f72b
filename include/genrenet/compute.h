// genrenet's compute policy: where and how the network runs (device, numeric precision, memory layout,
// threads), chosen in one place for training, evaluation, prediction, serving and the C++ API.
//
// `precision = "auto"` is chosen by measurement, never by CPU flags: the same flags are fast on one CPU
// and slow on another (bf16 was 3x faster than fp32 on one AVX512-BF16 machine and 1.5x slower on another).
// The first time a workload (CPU model, LibTorch version, architecture, input shape, batch, threads, training
// or inference) is seen, a few steps of every candidate are timed and the winner is cached under
// $GENRENET_CACHE_DIR (default ~/.cache/genrenet). This header needs no LibTorch headers.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace genrenet {

enum class Precision {
  Fp32,              // fp32, contiguous (NCHW) tensors
  Fp32ChannelsLast,  // fp32, channels_last (NHWC) tensors
  Bf16,              // bf16 autocast (master weights fp32), channels_last
  Int8,              // int8 weights and activations (inference only; the model must be calibrated)
};

// "fp32", "fp32-cl", "bf16", "int8".
std::string precision_name(Precision p);
// The inverse; throws Error("precision", ...) for anything else ("auto" is not a Precision).
Precision parse_precision(const std::string& name);
// Whether the precision computes in channels_last layout.
bool uses_channels_last(Precision p);

struct ComputeOptions {
  std::string device = "cpu";      // "cpu", or "cuda" when LibTorch has CUDA
  std::string precision = "auto";  // "auto" (measured, cached), "fp32", "fp32-cl", "bf16" or "int8"
  int threads = 0;                 // 0: every core, shared out among the processes of one machine
  // Throws Error naming the field. `allow_int8` is false for training.
  void validate(bool allow_int8 = true) const;
};

// The thread count to use: `requested` if positive, else the machine's cores / `processes_per_machine`.
int resolve_threads(int requested, int processes_per_machine = 1);

// "AMD EPYC (family 26 model 2)" from /proc/cpuinfo; "unknown CPU" elsewhere.
std::string cpu_model_name();
// The LibTorch version genrenet was built with ("1.13.1").
std::string libtorch_version();

// Empty when `--device cuda` can run here; otherwise why not, in words: this LibTorch was built without CUDA,
// or it is a CUDA build (PyPI's Linux wheel is) that sees no GPU.
std::string cuda_unavailable_reason();
// Throws Error("--device cuda", cuda_unavailable_reason()) unless --device cuda can run here.
void require_cuda_device();

// What a measurement is about. Everything that changes which candidate is fastest is in the key.
struct Workload {
  std::string kind = "inference";  // "inference" or "training"
  std::string arch = "resnet18";
  int input_channels = 3, n_mels = 128, frames = 1024;
  int batch = 16;
  int threads = 1;
  std::string detail;              // e.g. "42/62 parameter tensors trainable", "calibrated"
  std::string key() const;         // includes cpu_model_name() and libtorch_version()
};

struct CandidateTiming {
  Precision precision;
  double clips_per_second = 0;  // 0: failed (error says why)
  bool cut_short = false;       // not timed fully: far behind the leader (see CandidateSpeed)
  std::string error;
};

struct PrecisionChoice {
  Precision precision = Precision::Fp32;
  std::vector<CandidateTiming> timings;  // empty when taken from the cache or given explicitly
  bool from_cache = false;
  bool measured = false;
};

// What timing one candidate found.
struct CandidateSpeed {
  double clips_per_second = 0;
  bool cut_short = false;  // its probe or warm-up was far slower than the leader: not timed further
};

// Times one candidate (throws on failure). `leader_clips_per_second` is the fastest candidate timed so far
// (0: none yet), so that a hopeless one costs a two-clip probe, not several batches: bf16 emulated on a CPU
// without native bf16 runs some 30x slower than fp32, and timing it fully took a minute of every first run.
using CandidateTimer = std::function<CandidateSpeed(Precision, double leader_clips_per_second)>;

// The timing loop every candidate timer shares: `step(n)` runs the candidate on the first n clips of its batch
// of `batch`. Behind a leader, first a probe of two clips: cut short (cut_short, the probe's speed) when it
// took more than 4x the leader's time for two clips plus 0.5 s (room for one-off setup and for a small
// batch's poorer use of the cores); then a warm-up batch (kernel selection, first-touch memory), cut
// short likewise when it took more than 4x the leader's batch plus 0.5 s; otherwise at least 2 timed batches,
// up to 5 while they add up to under a second, and the speed of the fastest.
CandidateSpeed time_candidate_steps(const std::function<void(int clips)>& step, int batch, double leader_clips_per_second);

// Where measured choices are kept: $GENRENET_CACHE_DIR, else $XDG_CACHE_HOME/genrenet, else ~/.cache/genrenet.
std::filesystem::path compute_cache_dir();

// The precision to run `w` with. An explicit `requested` precision is returned as it is. "auto": the cached
// choice for w.key(), else every candidate timed with `timer` (one line on stderr says so), the fastest
// cached (atomic write) and returned. `force_measure` times again even when cached (`genrenet tune`).
// GENRENET_TUNE=0 turns measuring off: auto is then fp32, the one precision that is never slow.
PrecisionChoice choose_precision(const std::string& requested, const Workload& w,
                                 const std::vector<Precision>& candidates, const CandidateTimer& timer,
                                 bool force_measure = false);

}  // namespace genrenet
