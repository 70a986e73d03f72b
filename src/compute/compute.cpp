// The compute policy: precision names, thread counts, and "auto" chosen by measurement with a cache keyed by
// everything that changes the answer (see genrenet/compute.h for why flags are not enough).
#include <genrenet/compute.h>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include <genrenet/genrenet.h>

#include "common/log.h"
#include "common/option_tables.h"
#include "compute/measured_choice.h"
#include "compute/torch_threads.h"
#include "io/atomic_file.h"

namespace genrenet {
namespace {

constexpr const char* kChoicesFile = "compute-choices.json";

struct NamedPrecision {
  Precision precision;
  const char* name;
};
constexpr NamedPrecision kPrecisions[] = {
    {Precision::Fp32, "fp32"}, {Precision::Fp32ChannelsLast, "fp32-cl"}, {Precision::Bf16, "bf16"}, {Precision::Int8, "int8"}};

std::string cpuinfo_field(const std::string& text, const std::string& field) {
  const size_t at = text.find("\n" + field);
  if (at == std::string::npos) return "";
  const size_t colon = text.find(':', at), end = text.find('\n', at + 1);
  if (colon == std::string::npos || colon > end) return "";
  std::string v = text.substr(colon + 1, end - colon - 1);
  v.erase(0, v.find_first_not_of(" \t"));
  return v;
}

bool measuring_disabled() {
  const char* v = std::getenv("GENRENET_TUNE");
  return v && (std::string(v) == "0" || std::string(v) == "off" || std::string(v) == "false");
}

// The cache is one small JSON object {key: {"choice": name, "clips_per_second": {name: n}}}; concurrent
// writers (several processes measuring different workloads) each rewrite it whole, atomically, re-reading
// it first, so at worst one measurement is lost and taken again later, never a damaged file.
nlohmann::json read_choices(const std::filesystem::path& file, bool warn) {
  std::ifstream in(file);
  if (!in) return nlohmann::json::object();
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    if (j.is_object()) return j;
  } catch (const nlohmann::json::exception&) {
  }
  if (warn) log(LogLevel::Warning, file.string() + ": unreadable, measuring again");
  return nlohmann::json::object();
}

// One measurement at a time within a process. Recursive: a measurement may start another inside it (the
// precision's timing of int8 prepares an int8 network, which may measure the int8 engine).
std::recursive_mutex g_measurement_mutex;

// On a shared machine two candidates a few percent apart may show the machine's spread rather than their own
// speeds: on the 2-core Xeon VM (family 6 model 207) fp32 and fp32-cl once timed 17.3 clips/s each, where
// three more measurements gave fp32-cl 1.3-1.4x fp32. So the two leaders, when within 10% of each other, are
// timed again, the later one first, and each keeps its faster speed.
void time_a_close_call_again(std::vector<MeasuredCandidate>& timings, const NamedCandidateTimer& timer) {
  std::vector<MeasuredCandidate*> timed;
  for (MeasuredCandidate& t : timings)
    if (t.error.empty() && !t.cut_short) timed.push_back(&t);
  if (timed.size() < 2) return;
  std::stable_sort(timed.begin(), timed.end(), [](const MeasuredCandidate* a, const MeasuredCandidate* b) {
    return a->clips_per_second > b->clips_per_second;
  });
  MeasuredCandidate *first = timed[0], *second = timed[1];
  if (second->clips_per_second < 0.9 * first->clips_per_second) return;
  if (first > second) std::swap(first, second);  // in the candidates' order, to be timed in the other
  for (MeasuredCandidate* t : {second, first}) {
    try {
      t->clips_per_second = std::max(t->clips_per_second, timer(t->name, 0).clips_per_second);
    } catch (const std::exception&) {
      // It worked once: keep that speed.
    }
  }
}

}  // namespace

std::string precision_name(Precision p) {
  for (auto& n : kPrecisions)
    if (n.precision == p) return n.name;
  return "fp32";
}

Precision parse_precision(const std::string& name) {
  for (auto& n : kPrecisions)
    if (name == n.name) return n.precision;
  throw Error("precision", "must be auto, fp32, fp32-cl, bf16 or int8, got \"" + name + "\"");
}

bool uses_channels_last(Precision p) { return p != Precision::Fp32; }

const options::Table<ComputeOptions>& compute_options_table() {
  static const auto table =
      options::Table<ComputeOptions>("compute option", "Compute")
          .text("device", &ComputeOptions::device, {"cpu", "cuda"}, "Where the network runs (cuda: when LibTorch has it)",
                "--device")
          .text("precision", &ComputeOptions::precision, {"auto", "fp32", "fp32-cl", "bf16", "int8"},
                "auto: the fastest measured on this CPU (once, cached); int8 needs a calibrated model (genrenet quantize)",
                "--precision")
          .integer("threads", &ComputeOptions::threads, {0, 1024}, "Threads (0: every core)", "--threads");
  return table;
}

void ComputeOptions::validate(bool allow_int8) const {
  compute_options_table().validate(*this);
  if (precision != "auto") {
    const Precision p = parse_precision(precision);
    if (p == Precision::Int8 && !allow_int8)
      throw Error("precision", "int8 is for inference only; train in fp32, fp32-cl or bf16");
    if (device == "cuda" && (p == Precision::Int8 || p == Precision::Fp32ChannelsLast))
      throw Error("precision", precision + " runs on the CPU only; use fp32 or bf16 with --device cuda");
  }
}

void set_torch_threads(int threads) {
  if (at::get_num_threads() != threads) at::set_num_threads(threads);
}

int resolve_threads(int requested, int processes_per_machine) {
  if (requested > 0) return requested;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, processes_per_machine));
}

std::string cpu_model_name() {
  static const std::string name = [] {
    std::ifstream in("/proc/cpuinfo");
    if (!in) return std::string("unknown CPU");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text = "\n" + text.substr(0, text.find("\n\n"));  // the first processor's block
    std::string model = cpuinfo_field(text, "model name");
    if (model.empty()) return std::string("unknown CPU");
    const std::string family = cpuinfo_field(text, "cpu family"), number = cpuinfo_field(text, "model\t");
    if (!family.empty()) model += " (family " + family + " model " + number + ")";
    return model;
  }();
  return name;
}

std::string libtorch_version() { return TORCH_VERSION; }

std::string cuda_unavailable_reason() {
  if (torch::cuda::is_available()) return "";
#ifdef GENRENET_LIBTORCH_CUDA
  return "this LibTorch (" + libtorch_version() +
         ") is a CUDA build but sees no GPU (no NVIDIA driver or device here, or CUDA_VISIBLE_DEVICES hides them); "
         "--device cpu runs everywhere";
#else
  return "this LibTorch (" + libtorch_version() + ") was built without CUDA; build against a CUDA LibTorch "
         "(scripts/build.sh --torch pip: PyPI's Linux wheel) to use a GPU";
#endif
}

std::string Workload::key() const {
  return kind + " | " + arch + " " + std::to_string(input_channels) + "x" + std::to_string(n_mels) + "x" +
         std::to_string(frames) + " | batch " + std::to_string(batch) + " | " + std::to_string(threads) +
         " threads" + (detail.empty() ? "" : " | " + detail) + " | " + cpu_model_name() + " | LibTorch " +
         libtorch_version();
}

std::filesystem::path compute_cache_dir() {
  if (const char* d = std::getenv("GENRENET_CACHE_DIR"); d && *d) return d;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::filesystem::path(xdg) / "genrenet";
  if (const char* home = std::getenv("HOME"); home && *home) return std::filesystem::path(home) / ".cache" / "genrenet";
  return ".genrenet-cache";
}

void require_cuda_device() {
  if (const std::string why = cuda_unavailable_reason(); !why.empty()) throw Error("device cuda", why);
}

CandidateSpeed time_candidate_steps(const std::function<void(int clips)>& step, int batch, double leader_clips_per_second) {
  using Clock = std::chrono::steady_clock;
  auto seconds_of = [&](int clips) {
    const auto t0 = Clock::now();
    step(clips);
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  auto far_behind = [&](double seconds, int clips) {
    return leader_clips_per_second > 0 && seconds > 4.0 * clips / leader_clips_per_second + 0.5;
  };
  // Two clips, not one: a training-mode batch norm needs more than one value per channel, and a small
  // model's last feature map may be 1x1.
  if (constexpr int kProbe = 2; leader_clips_per_second > 0 && batch > kProbe) {
    const double probe = seconds_of(kProbe);
    if (far_behind(probe, kProbe)) return {kProbe / probe, /*cut_short=*/true};
  }
  const double warm_up = seconds_of(batch);
  if (far_behind(warm_up, batch)) return {batch / warm_up, /*cut_short=*/true};
  double fastest = 1e30, spent = 0;
  for (int i = 0; i < 5 && (i < 2 || spent < 1.0); ++i) {
    const double s = seconds_of(batch);
    fastest = std::min(fastest, s);
    spent += s;
  }
  return {batch / fastest, false};
}

std::unique_lock<std::recursive_mutex> lock_measurements() {
  return std::unique_lock<std::recursive_mutex>(g_measurement_mutex);
}

MeasuredChoice choose_by_measurement(const std::string& subject, const Workload& w,
                                     const std::vector<std::string>& candidates, const std::string& unmeasured,
                                     const NamedCandidateTimer& timer, bool force_measure) {
  MeasuredChoice choice;
  if (candidates.empty()) throw Error(subject, "no candidate to choose from");
  choice.name = unmeasured;
  if (candidates.size() == 1 || (measuring_disabled() && !force_measure)) return choice;
  const std::unique_lock<std::recursive_mutex> lock = lock_measurements();
  const std::filesystem::path file = compute_cache_dir() / kChoicesFile;
  const std::string key = w.key();
  if (!force_measure) {
    nlohmann::json all = read_choices(file, /*warn=*/true);
    if (all.contains(key) && all[key].is_object() && all[key].contains("choice") && all[key]["choice"].is_string()) {
      const std::string cached = all[key]["choice"].get<std::string>();
      if (std::find(candidates.begin(), candidates.end(), cached) != candidates.end()) {
        choice.name = cached;
        choice.from_cache = true;
        return choice;
      }
    }
  }
  // Two notes: what is measured (the timing takes seconds), then each speed and the choice.
  std::string names;
  for (const std::string& c : candidates) names += (names.empty() ? "" : ", ") + c;
  logf(LogLevel::Note, "%s: measuring %s for %s %s, batch %d, %d threads (once for this CPU; cached in %s)",
       subject.c_str(), names.c_str(), w.arch.c_str(), w.kind.c_str(), w.batch, w.threads, file.string().c_str());
  double best = 0;
  for (const std::string& c : candidates) {
    MeasuredCandidate t;
    t.name = c;
    try {
      const CandidateSpeed s = timer(c, best);
      t.clips_per_second = s.clips_per_second;
      t.cut_short = s.cut_short;
    } catch (const std::exception& e) {
      t.error = e.what();
    }
    if (t.error.empty()) best = std::max(best, t.clips_per_second);
    choice.timings.push_back(t);
  }
  time_a_close_call_again(choice.timings, timer);
  std::string line = subject + ": ";
  nlohmann::json speeds = nlohmann::json::object();
  best = -1;
  for (const MeasuredCandidate& t : choice.timings) {
    line += &t == &choice.timings.front() ? "" : ", ";
    if (!t.error.empty()) {
      line += t.name + " failed";
      continue;
    }
    speeds[t.name] = t.clips_per_second;
    char speed[64];
    std::snprintf(speed, sizeof speed, " %.1f%s", t.clips_per_second, t.cut_short ? " (cut short: far behind)" : "");
    line += t.name + speed;
    if (t.clips_per_second > best) {
      best = t.clips_per_second;
      choice.name = t.name;
    }
  }
  if (best <= 0) {
    log(LogLevel::Note, line + ": no candidate worked");
    throw Error(subject, "every candidate failed: " + choice.timings.front().error);
  }
  log(LogLevel::Note, line + " clips/s -> " + choice.name);
  choice.measured = true;
  try {
    std::filesystem::create_directories(file.parent_path());
    nlohmann::json all = read_choices(file, /*warn=*/false);  // (re-read: another process may have written)
    all[key] = {{"choice", choice.name}, {"clips_per_second", speeds}};
    io::write_file_atomically(file, all.dump(2) + "\n");
  } catch (const std::exception& e) {
    // A read-only home must not stop the work: the next run measures again.
    log(LogLevel::Warning, file.string() + ": cannot keep the measurement (" + e.what() + ")");
  }
  return choice;
}

PrecisionChoice choose_precision(const std::string& requested, const Workload& w,
                                 const std::vector<Precision>& candidates, const CandidateTimer& timer,
                                 bool force_measure) {
  PrecisionChoice choice;
  if (requested != "auto") {
    choice.precision = parse_precision(requested);
    return choice;
  }
  if (candidates.empty()) throw Error("precision", "no candidate precision to choose from");
  std::vector<std::string> names;
  for (Precision p : candidates) names.push_back(precision_name(p));
  // Unmeasured, fp32: the one precision that is never slow.
  const bool has_fp32 = std::find(candidates.begin(), candidates.end(), Precision::Fp32) != candidates.end();
  const MeasuredChoice m = choose_by_measurement(
      "precision auto", w, names, has_fp32 ? precision_name(Precision::Fp32) : names.front(),
      [&](const std::string& name, double leader) { return timer(parse_precision(name), leader); }, force_measure);
  choice.precision = parse_precision(m.name);
  choice.from_cache = m.from_cache;
  choice.measured = m.measured;
  for (const MeasuredCandidate& t : m.timings)
    choice.timings.push_back({parse_precision(t.name), t.clips_per_second, t.cut_short, t.error});
  return choice;
}

}  // namespace genrenet
