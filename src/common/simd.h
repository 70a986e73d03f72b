// Run-time dispatch between instruction sets for the feature kernels (GCC/Clang function multi-versioning
// on x86-64): one portable binary, AVX-512 where the CPU has it.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(GENRENET_NO_CLONES)
#define GENRENET_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GENRENET_SIMD_CLONES
#endif
