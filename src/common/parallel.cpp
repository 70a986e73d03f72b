#include "common/parallel.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

namespace genrenet {

// On OpenMP's threads, the ones LibTorch's operators run on: a decoding phase between two network phases
// then uses the same threads as the network instead of starting its own beside OpenMP's, which spin on for
// a while after every parallel region (on 2 cores, three busy threads; docs/PERFORMANCE.md). Those threads
// also keep their thread_local buffers (the STFT's) from one call to the next, and LibTorch operators
// called inside `fn` run on the calling thread instead of starting a team each. Indices are handed out one
// at a time, so files of different lengths balance.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn) {
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::min<std::size_t>(n, 1 << 16))));
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next++) < n;) fn(i);
  };
  if (threads == 1) return worker();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  worker();
#else
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
#endif
}

std::launch ahead_or_in_turn(const char* forced_by, bool network_on_gpu) {
  const char* forced = std::getenv(forced_by);
  const bool ahead = forced && *forced ? std::string_view(forced) != "0" : network_on_gpu;
  return ahead ? std::launch::async : std::launch::deferred;
}

}  // namespace genrenet
