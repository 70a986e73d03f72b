// The process's memory for batch work (tune_allocator_for_batch_work in genrenet.h): freed memory is kept for
// the next clip or batch; this gives it back.
#pragma once

namespace genrenet {

// Returns the memory kept for reuse to the system: LibTorch's idle large blocks and glibc's free heap. For a
// long-running process between bursts of work (the HTTP service when no request is left).
void release_idle_memory();

}  // namespace genrenet
