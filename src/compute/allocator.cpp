#include "compute/allocator.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <genrenet/genrenet.h>

#include "compute/torch_compat.h"

namespace genrenet {
namespace {

constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kLarge = size_t(8) << 20;  // from here the rounding to whole huge pages wastes < 25%

// LibTorch's large tensors, each on whole 2-MiB-aligned pages of its own (mapped with MADV_HUGEPAGE), and kept
// when freed for the next tensor of about the same size. A batch's activations are hundreds of MB; on 4-KiB
// pages each first touch is a page fault, on a virtual machine a costly one (~10 us here), and most Linux
// systems (Debian's default included) give huge pages only to memory that asks for them (madvise mode).
// Every batch asks for the same sizes as the one before, so a freed block is what the next batch needs.
// Before this cache the blocks came from glibc's heap (posix_memalign): the gaps that alignment left beside
// them did not fit the next batch's blocks in the same places, and a 100-file `predict` grew the heap by a
// fresh 34 MB with each of its first six batches, ~200 MB of pages the kernel zeroed (perf: a fifth of the
// main thread's time in that phase).
class LargeBlockCache {
 public:
  // Idle blocks kept at most: a quarter of the memory (training's activations come back every step),
  // beyond it the longest idle are unmapped.
  LargeBlockCache() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    idle_limit_ = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) / 4 : size_t(1) << 30;
  }

  // A block of at least n bytes (a multiple of the huge page), or nullptr if none could be mapped.
  void* take(size_t n) {
    const size_t wanted = (n + kHugePage - 1) / kHugePage * kHugePage;
    {
      std::lock_guard lock(mutex_);
      // The smallest idle block that fits, unless it is more than a quarter larger than needed.
      auto it = idle_.lower_bound(wanted);
      if (it != idle_.end() && it->first <= wanted + wanted / 4) {
        const auto [size, block] = *it;
        idle_.erase(it);
        idle_bytes_ -= size;
        in_use_.emplace(block.address, size);
        return block.address;
      }
    }
    void* p = map_aligned(wanted);
    if (!p) return nullptr;
    std::lock_guard lock(mutex_);
    in_use_.emplace(p, wanted);
    return p;
  }

  // Takes p back if it is one of this cache's blocks (false otherwise).
  bool give_back(void* p) {
    std::lock_guard lock(mutex_);
    auto it = in_use_.find(p);
    if (it == in_use_.end()) return false;
    const size_t size = it->second;
    in_use_.erase(it);
    idle_.emplace(size, Idle{p, ++clock_});
    idle_bytes_ += size;
    while (idle_bytes_ > idle_limit_) unmap_oldest();
    return true;
  }

  // Unmaps every idle block (a service between bursts of requests).
  void release_idle() {
    std::lock_guard lock(mutex_);
    while (!idle_.empty()) unmap_oldest();
  }

 private:
  struct Idle {
    void* address;
    std::uint64_t freed_at;  // clock_ when it was given back
  };

  static void* map_aligned(size_t size) {
    // One huge page more than needed, then the unaligned ends unmapped.
    void* raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const auto start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > start) munmap(raw, aligned - start);
    const std::uintptr_t end = start + size + kHugePage;
    if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - (aligned + size));
    madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);  // advice only: without THP it works as usual
    return reinterpret_cast<void*>(aligned);
  }

  void unmap_oldest() {
    auto oldest = std::min_element(idle_.begin(), idle_.end(),
                                   [](const auto& a, const auto& b) { return a.second.freed_at < b.second.freed_at; });
    munmap(oldest->second.address, oldest->first);
    idle_bytes_ -= oldest->first;
    idle_.erase(oldest);
  }

  std::mutex mutex_;
  std::unordered_map<void*, size_t> in_use_;  // address -> size
  std::multimap<size_t, Idle> idle_;          // size -> block
  size_t idle_bytes_ = 0, idle_limit_ = 0;
  std::uint64_t clock_ = 0;
};

// Never destroyed: LibTorch frees tensors during the process's exit, after static destructors may have run.
LargeBlockCache& large_blocks() {
  static auto* cache = new LargeBlockCache;
  return *cache;
}

// Any block this allocator handed out: a large one goes back to the cache, a small one to LibTorch.
void free_block(void* p) {
  if (p && !large_blocks().give_back(p)) c10::free_cpu(p);
}

// LibTorch's CPU allocator with the large tensors from the cache above; small ones from LibTorch's own.
class LargeBlockCpuAllocator final : public torch_compat::CpuAllocatorBase {
 public:
  c10::DataPtr allocate_bytes(size_t n) const override {
    if (n >= kLarge) {
      if (void* p = large_blocks().take(n)) return {p, p, &free_block, c10::Device(c10::DeviceType::CPU)};
    }
    void* p = c10::alloc_cpu(n);  // small, or large that could not be mapped (LibTorch reports OOM)
    return {p, p, &c10::free_cpu, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &free_block; }
};

}  // namespace

void tune_allocator_for_batch_work() {
#if defined(__GLIBC__)
  // glibc hands blocks above 128 KiB to mmap and gives them back on free, so every clip's multi-megabyte
  // buffers start as fresh pages: a page fault per 4 KiB, zeroed by the kernel. On the 2-core VM this was
  // measured at 46 ms per clip against 11 ms with these settings: freed memory stays in the process and
  // the next clip reuses it.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
#endif
  // GENRENET_HUGE_PAGES=0 keeps LibTorch's allocator (to compare, or where memory is tight).
  const char* env = std::getenv("GENRENET_HUGE_PAGES");
  if (env && std::string_view(env) == "0") return;
  static LargeBlockCpuAllocator allocator;
  c10::SetCPUAllocator(&allocator, /*priority=*/1);  // above LibTorch's default (0)
}

void release_idle_memory() {
  large_blocks().release_idle();  // (empty where this allocator was never installed)
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace genrenet
