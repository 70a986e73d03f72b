// Run-time dispatch between instruction sets for the feature kernels (GCC/Clang function multi-versioning
// on x86-64): one portable binary, AVX-512 where the CPU has it.
//
// The clones are the x86-64 micro-architecture levels, not single extensions: "avx2" alone compiles without
// FMA (it is a separate extension), so every multiply-add of that clone was a multiply and an add; v3 is
// AVX2 + FMA + BMI (every AVX2 CPU since Haswell), v4 AVX-512 F/BW/CD/DQ/VL (every AVX-512 CPU met here).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <new>
#include <utility>
#include <vector>

// A build configured with -DGENRENET_SIMD_MAX=v3 (GENRENET_SIMD_MAX_V3) has no v4 clones and never dispatches to
// v4: on an AVX-512 CPU it runs what an AVX2-only CPU runs (bench/compare_builds.sh measures that kind so).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(GENRENET_NO_CLONES)
#if defined(GENRENET_SIMD_MAX_V3)
#define GENRENET_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GENRENET_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#define GENRENET_SIMD_DISPATCH 1
#define GENRENET_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#define GENRENET_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#else
#define GENRENET_SIMD_CLONES
#define GENRENET_SIMD_DISPATCH 0
#define GENRENET_TARGET_V4
#define GENRENET_TARGET_V3
#endif

namespace genrenet::simd {

// One register of floats on each level (GCC/Clang vector extensions), for kernels written once as a template
// over the vector and instantiated in a GENRENET_TARGET_V4, a GENRENET_TARGET_V3 and a baseline function.
using F32x16 = float __attribute__((vector_size(64)));
using F32x8 = float __attribute__((vector_size(32)));
using F32x4 = float __attribute__((vector_size(16)));

// Unaligned load and store; by reference and always inlined, because a vector passed by value has a
// different calling convention on each level (gcc warns, clang refuses to compile it).
template <class V>
[[gnu::always_inline]] inline void load(V& v, const float* p) { __builtin_memcpy(&v, p, sizeof v); }
template <class V>
[[gnu::always_inline]] inline void store(float* p, const V& v) { __builtin_memcpy(p, &v, sizeof v); }

// Storage on whole cache lines, for buffers the kernels read and write a vector at a time: malloc's 16-byte
// alignment splits every 64-byte AVX-512 access over two lines (the STFT + mel took 1.52-1.59 against
// 1.27-1.29 ms a clip for that alone, AMD EPYC family 25 model 17).
constexpr std::size_t kCacheLine = 64;
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kCacheLine))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(kCacheLine)); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept { return true; }
};
using AlignedFloats = std::vector<float, CacheLineAllocator<float>>;

// The same storage, but growing leaves the new elements unset instead of zeroing them: for buffers whose
// every element is written before it is read (a decoded clip, a resampled one), kept from one clip to the
// next. A std::vector<float> is zero-filled as it grows, which is why the decoder staged its samples in a
// small buffer and appended them, a copy of the whole clip.
template <class T>
struct UnsetCacheLineAllocator : CacheLineAllocator<T> {
  template <class U>
  struct rebind {
    using other = UnsetCacheLineAllocator<U>;
  };
  UnsetCacheLineAllocator() = default;
  template <class U>
  UnsetCacheLineAllocator(const UnsetCacheLineAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;  // default-initialised: a float is left as it is
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using ScratchFloats = std::vector<float, UnsetCacheLineAllocator<float>>;

// The instruction-set level this CPU runs (what the clones' resolvers choose), for kernels whose shape, not
// only their instructions, differs by level (a register budget: 32 AVX-512 registers against 16 AVX2 ones).
enum class Level { Baseline, V3, V4 };

// The highest level dispatch() may choose (tests lower it to run every kernel a CPU can; target_clones'
// resolvers are not affected).
inline std::atomic<Level>& level_limit() {
  static std::atomic<Level> limit{Level::V4};
  return limit;
}

inline Level cpu_level() {
#if GENRENET_SIMD_DISPATCH
  static const Level detected = [] {
    __builtin_cpu_init();
    const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
#if defined(GENRENET_SIMD_MAX_V3)
    const bool v4 = false;
#else
    const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
                    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    return v4 ? Level::V4 : v3 ? Level::V3 : Level::Baseline;
  }();
  return std::min(detected, level_limit().load());
#else
  return Level::Baseline;
#endif
}

// Calls the kernel of this CPU's level with `args`: v4, v3 or baseline (each a GENRENET_TARGET_V4 /
// GENRENET_TARGET_V3 / plain function of the same arguments).
// (Only one of the calls runs, so forwarding the arguments to each is safe.)
template <class V4, class V3, class Baseline, class... Args>
inline void dispatch(V4 v4, V3 v3, Baseline baseline, Args&&... args) {
  switch (cpu_level()) {
    case Level::V4: return v4(std::forward<Args>(args)...);
    case Level::V3: return v3(std::forward<Args>(args)...);
    case Level::Baseline: break;
  }
  baseline(std::forward<Args>(args)...);
}

}  // namespace genrenet::simd
