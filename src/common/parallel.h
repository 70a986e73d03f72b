// The one worker pool of genrenet: files are independent, so work is spread over threads by index.
#pragma once

#include <cstddef>
#include <functional>

namespace genrenet {

// Calls fn(i) for every i in [0, n) on up to `threads` threads, this one included (a resolved count, at
// least 1: resolve_threads, genrenet/compute.h, turns "0: every core" into one), handing out indices in
// increasing order. fn must not throw.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn);

}  // namespace genrenet
