#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer: the library, the CLI and every
# test compiled with gcc's -fsanitize=address,undefined into a second build folder (LibTorch and the system
# libraries are not instrumented), then ctest there. Not part of CI: the second full build and the slower
# tests take longer than CI's hour allows beside everything else on 2 cores (docs/RELIABILITY.md has the
# figures); scripts/fuzz.sh runs the parsers' and the HTTP transport's tests under the sanitizers in CI.
#   scripts/sanitize.sh [CTEST ARGS...]      e.g. scripts/sanitize.sh -R Serve
set -euo pipefail
cd "$(dirname "$0")/.."
build=${GENRENET_SANITIZE_BUILD:-build-asan}
mkdir -p "$build"
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DGENRENET_BUILD_BENCH=OFF -DGENRENET_BUILD_EXAMPLES=OFF > "$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" --parallel "$(nproc)"
# LibTorch (not instrumented) keeps some allocations for the life of the process: not genrenet's leaks.
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1"
# install_consumer builds an uninstrumented program against the instrumented library, which cannot run.
(($#)) || set -- -E '^install_consumer$'
cd "$build" && ctest --parallel "$(nproc)" --output-on-failure "$@"
