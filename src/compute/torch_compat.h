// Every difference between the LibTorch lines genrenet builds against, in one place (docs/BUILDING.md).
//
// Built and tested: Debian 12's libtorch-dev 1.13.1 and PyPI's torch 2.15.0 wheel (CUDA 13 build). The
// version checks below name the release that changed each API (from PyTorch's release notes and pull
// requests); releases between 1.13 and 2.15 other than those were not built here. Where a signature moved
// more than once across 2.x (c10d's Reducer), the form is picked by what the headers accept, not by a
// version number, so that an untested 2.x in between still finds the form it has.
//
// Beside this header: src/train/compat/ holds one header Debian's package leaves out
// (torch/csrc/distributed/autograd/context/context.h), used only when the LibTorch found lacks it.
#pragma once

#include <cstring>
#include <string>
#include <type_traits>

#include <ATen/autocast_mode.h>
#include <c10/core/Allocator.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#define GENRENET_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace genrenet::torch_compat {

// --- Autocast: 2.4 made it one call per device type (set_cpu_enabled / set_enabled deprecated).
inline void set_bf16_autocast(bool enabled, bool cuda) {
#if GENRENET_TORCH_AT_LEAST(2, 4)
  const at::DeviceType device = cuda ? at::kCUDA : at::kCPU;
  at::autocast::set_autocast_enabled(device, enabled);
  if (enabled) at::autocast::set_autocast_dtype(device, at::kBFloat16);
#else
  if (cuda) {
    at::autocast::set_enabled(enabled);
    if (enabled) at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    if (enabled) at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  }
#endif
}

// --- Custom CPU allocators: 2.3 made Allocator::allocate non-const (pytorch#120969); 2.1 added copy_data
// (copy-on-write storages), later pure virtual. Derive from this and implement allocate_bytes.
class CpuAllocatorBase : public c10::Allocator {
 public:
  virtual c10::DataPtr allocate_bytes(size_t n) const = 0;
#if GENRENET_TORCH_AT_LEAST(2, 3)
  c10::DataPtr allocate(size_t n) override { return allocate_bytes(n); }
#else
  c10::DataPtr allocate(size_t n) const override { return allocate_bytes(n); }
#endif
#if GENRENET_TORCH_AT_LEAST(2, 1)
  // CPU memory: a plain copy, which is what LibTorch's default_copy_data does.
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
#endif
};

// --- LibTorch's warnings (TORCH_WARN) go to a handler of the calling thread. 2.0 moved its setter and guard
// from the namespace c10::Warning (a class since) to c10::WarningUtils (both per thread), and gave
// WarningHandler::process one c10::Warning where it took the source location, the message and a verbatim flag.
// Derive from this and implement warn(message).
class WarningHandlerBase : public c10::WarningHandler {
 public:
  virtual void warn(const std::string& message) = 0;
#if GENRENET_TORCH_AT_LEAST(2, 0)
  void process(const c10::Warning& warning) override { warn(warning.msg()); }
#else
  void process(const c10::SourceLocation&, const std::string& message, const bool) override { warn(message); }
#endif
};
#if GENRENET_TORCH_AT_LEAST(2, 0)
using WarningHandlerGuard = c10::WarningUtils::WarningHandlerGuard;
#else
using WarningHandlerGuard = c10::Warning::WarningHandlerGuard;
#endif

}  // namespace genrenet::torch_compat

// --- c10d (data-parallel training): only for the file that defines GENRENET_TORCH_COMPAT_C10D before
// including this header, so that the rest of the library does not parse c10d's headers.
#ifdef GENRENET_TORCH_COMPAT_C10D
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

namespace genrenet::torch_compat {

// A process group running `backend` (a ProcessGroupGloo or ProcessGroupNCCL) for `device`. Up to 1.13 the
// backends were ProcessGroups themselves; from 2.0 they are c10d::Backends that a ProcessGroup dispatches to
// by device type (the constructor took an Options argument until ~2.2, not since).
template <class BackendT, class PG = c10d::ProcessGroup>
c10::intrusive_ptr<PG> make_process_group(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                          int size, c10::intrusive_ptr<BackendT> backend,
                                                          c10::DeviceType device) {
#if GENRENET_TORCH_AT_LEAST(2, 0)
  c10::intrusive_ptr<PG> pg;
  if constexpr (std::is_constructible_v<PG, c10::intrusive_ptr<c10d::Store>, int, int>) {
    pg = c10::make_intrusive<PG>(store, rank, size);
  } else {
    pg = c10::make_intrusive<PG>(store, rank, size, c10::make_intrusive<typename PG::Options>(backend->getBackendName()));
  }
  const auto type = device == c10::DeviceType::CUDA ? PG::BackendType::NCCL : PG::BackendType::GLOO;
  pg->setDefaultBackend(type);
  pg->setBackend(device, type, backend);
  return pg;
#else
  (void)store, (void)rank, (void)size, (void)device;
  return backend;
#endif
}

// c10d::Reducer with DistributedDataParallel's defaults: buckets `buckets` (indices into `params`) of at most
// `limits` bytes each, no unused-parameter search, gradients copied into the buckets. 1.13 took the limits
// per bucket; 2.x rebuilds buckets by its own rule and grew flags (skip_all_reduce_unused_params,
// use_python_reducer, bucket_bytes_cap_list) whose defaults here are DistributedDataParallel's.
template <class R = c10d::Reducer>
std::unique_ptr<R> make_reducer(const std::vector<at::Tensor>& params, std::vector<std::vector<size_t>> buckets,
                                std::vector<size_t> limits, const c10::intrusive_ptr<c10d::ProcessGroup>& pg) {
  std::vector<bool> sparse(params.size(), false);
  using Names = std::unordered_map<size_t, std::string>;
  using PGPtr = c10::intrusive_ptr<c10d::ProcessGroup>;
  using Buckets = std::vector<std::vector<size_t>>;
  const int64_t cap = c10d::kDefaultBucketBytesCap, first = c10d::kDefaultFirstBucketBytes;
  if constexpr (std::is_constructible_v<R, std::vector<at::Tensor>, Buckets, PGPtr, std::vector<bool>, int64_t, bool,
                                        bool, Names, int64_t, bool, bool, std::vector<int64_t>>) {
    (void)limits;
    return std::make_unique<R>(params, std::move(buckets), pg, sparse, cap, /*find_unused_parameters=*/false,
                               /*gradient_as_bucket_view=*/false, Names{}, first,
                               /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
                               /*bucket_bytes_cap_list=*/std::vector<int64_t>{});
  } else {
    return std::make_unique<R>(params, std::move(buckets), std::move(limits), pg, sparse, cap,
                               /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false, Names{}, first);
  }
}

}  // namespace genrenet::torch_compat
#endif
