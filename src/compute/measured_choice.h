// A choice among named candidates made by timing them once per workload and CPU, cached beside the
// precision choices (compute-choices.json). The precision policy (choose_precision) is one user; the int8
// engine (infer/inference_net.cpp) another.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <genrenet/compute.h>

namespace genrenet {

struct MeasuredCandidate {
  std::string name;
  double clips_per_second = 0;  // 0: failed (error says why)
  bool cut_short = false;
  std::string error;
};

struct MeasuredChoice {
  std::string name;
  std::vector<MeasuredCandidate> timings;  // empty when taken from the cache or not measured
  bool from_cache = false;
  bool measured = false;
};

// The lock every measurement holds: one at a time in a process, and a measurement may start another inside it
// (the precision's timing of int8 prepares an int8 network, which may measure the int8 engine). State that a
// measurement chooses (the int8 engine) is guarded by it too, so that there is one lock and one order.
std::unique_lock<std::recursive_mutex> lock_measurements();

using NamedCandidateTimer = std::function<CandidateSpeed(const std::string& name, double leader_clips_per_second)>;

// The cached choice for w.key() when it is one of `candidates`, else every candidate timed with `timer` (a line
// on stderr before and after, each beginning with `subject`), the fastest cached and returned. `unmeasured` is
// the answer without measuring: a single candidate, or GENRENET_TUNE=0 unless `force_measure`.
MeasuredChoice choose_by_measurement(const std::string& subject, const Workload& w,
                                     const std::vector<std::string>& candidates, const std::string& unmeasured,
                                     const NamedCandidateTimer& timer, bool force_measure);

}  // namespace genrenet
