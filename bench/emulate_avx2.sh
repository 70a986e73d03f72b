#!/usr/bin/env bash
# Runs a benchmark on an AVX-512 CPU as a CPU with AVX2 only (no AVX-512, no VNNI) would run its network
# kernels: LibTorch's and PyTorch's ATen kernels, oneDNN's (fp32 and int8 convolutions) and FBGEMM's capped at
# AVX2, in both genrenet and PyTorch. Why: the AVX2 kind met once (AMD EPYC family 25 model 1) is where
# genrenet's int8 trunk runs without VNNI against PyTorch's fp32, and no session since has had one; on the
# Xeon (family 6 model 207) this proxy gave the rates measured there (docs/PERFORMANCE.md).
#   bench/emulate_avx2.sh COMMAND [ARGS...]
#   e.g. GENRENET_BENCH_TORCH_MODES=fp32 GENRENET_BENCH_BUILDS="build build-pip" bench/emulate_avx2.sh bench/run_epoch.sh
# Not capped: genrenet's own feature kernels, which choose from the CPU's flags; a build configured with
# -DGENRENET_SIMD_MAX=v3 runs their AVX2 forms (docs/BUILDING.md).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: bench/emulate_avx2.sh COMMAND [ARGS...]" >&2; exit 2; }
grep -qw avx512f /proc/cpuinfo || echo "note: this CPU has no AVX-512; the command runs as it would anyway" >&2
caches=$(mktemp -d)
trap 'rm -rf "$caches"' EXIT
export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 FBGEMM_ENABLE_INSTRUCTIONS=AVX2
# Fresh caches: genrenet's measured choices are keyed by the CPU's name, which the cap does not change, and
# torch.compile's kernels compiled for AVX-512 crashed when a run under the cap loaded them.
export GENRENET_CACHE_DIR=$caches/genrenet TORCHINDUCTOR_CACHE_DIR=$caches/inductor XDG_CACHE_HOME=$caches
echo "# ATen, oneDNN and FBGEMM capped at AVX2 (bench/emulate_avx2.sh)"
"$@"
