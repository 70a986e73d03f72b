#include <malloc.h>
#include <sys/mman.h>

#include <cstdlib>
#include <string_view>

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <genrenet/genrenet.h>

#include "compute/torch_compat.h"

namespace genrenet {
namespace {

// LibTorch's CPU allocator, with large tensors on transparent huge pages. Most Linux systems (Debian's
// default included) give huge pages only to memory that asks for them (madvise mode). A batch's
// activations are hundreds of MB; on 4-KiB pages each first touch is a page fault — on a virtual machine a
// costly one (~10 us here). Measured on the 2-core VM (bench/run_predict.sh, docs/PERFORMANCE.md): a
// 100-file `predict` has a third of the page faults (~140,000 -> 46,000) and takes 3.7-3.9 s instead of
// 4.0-4.3 s; training steps, which reuse their memory, are unchanged within noise.
// Small tensors go to LibTorch's own allocator; both kinds are freed with c10::free_cpu (free).
class HugePageCpuAllocator final : public torch_compat::CpuAllocatorBase {
 public:
  c10::DataPtr allocate_bytes(size_t n) const override {
    constexpr size_t kHugePage = size_t(2) << 20;
    constexpr size_t kLarge = size_t(8) << 20;  // from here the rounding to whole huge pages wastes < 25%
    void* p = nullptr;
    if (n >= kLarge) {
      const size_t rounded = (n + kHugePage - 1) / kHugePage * kHugePage;
      if (posix_memalign(&p, kHugePage, rounded) == 0) {
        madvise(p, rounded, MADV_HUGEPAGE);  // advice only: without THP the memory works as usual
      } else {
        p = nullptr;
      }
    }
    if (!p) p = c10::alloc_cpu(n);  // small, or large that could not be aligned (LibTorch reports OOM)
    return {p, p, &c10::free_cpu, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &c10::free_cpu; }
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
  static HugePageCpuAllocator huge_pages;
  c10::SetCPUAllocator(&huge_pages, /*priority=*/1);  // above LibTorch's default (0)
}

}  // namespace genrenet
