// LibTorch's intra-op thread count, set only when it changes. LibTorch 1.13's at::set_num_threads rebuilds
// its pthreadpool on every call, and the new pool's worker spins for tens of milliseconds on another core:
// loading a model for `predict` called it twice more than needed (medians over 10 alternating 100-file runs:
// 2.23 against 2.27 s, AMD EPYC family 25 model 17).
#pragma once

namespace genrenet {

void set_torch_threads(int threads);

}  // namespace genrenet
