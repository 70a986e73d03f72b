// The one worker pool of genrenet: files are independent, so work is spread over threads by index.
#pragma once

#include <cstddef>
#include <functional>
#include <future>

namespace genrenet {

// Calls fn(i) for every i in [0, n) on up to `threads` threads, this one included (a resolved count, at
// least 1: resolve_threads, genrenet/compute.h, turns "0: every core" into one), handing out indices in
// increasing order. fn must not throw.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn);

// How the input of a network's next step is made: ahead, on a thread of its own while the network runs
// (std::launch::async), where the network runs on a GPU and the cores are otherwise idle; in turn, when it
// is needed (std::launch::deferred), on the CPU, where the network already uses every core and a thread
// beside it only takes their time (docs/PERFORMANCE.md). The environment variable `forced_by` (1 or 0)
// forces either.
std::launch ahead_or_in_turn(const char* forced_by, bool network_on_gpu);

}  // namespace genrenet
