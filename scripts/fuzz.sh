#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14 with AddressSanitizer + UndefinedBehaviorSanitizer), runs the unit
# tests of the parsers and the feature pipeline once under the same sanitizers (sanitized_unit_tests), then
# runs each fuzz target for SECONDS (default 60) from its seed corpus in fuzz/corpus/<target>. Exits non-zero on any finding (crash,
# leak, undefined behaviour, an exception other than genrenet::Error, a timeout or memory blow-up); the
# input that caused it is left in <build>/findings/<target>/. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(audio safetensors pth npy config http journal store)
build=${GENRENET_FUZZ_BUILD:-build-fuzz}
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
  -DCMAKE_CXX_COMPILER=clang++-14 -DGENRENET_FUZZ=ON -DGENRENET_BUILD_TESTS=OFF -DGENRENET_BUILD_BENCH=OFF \
  -DGENRENET_BUILD_EXAMPLES=OFF -DGENRENET_PRECOMPILED_HEADERS=OFF > "$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" --target fuzz_targets sanitized_unit_tests --parallel "$(nproc)"
# LibTorch (not instrumented) keeps some allocations for the life of the process: not genrenet's leaks.
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
echo "== sanitized_unit_tests (ASan + UBSan)"
"$build/fuzz/sanitized_unit_tests" > "$build/sanitized_unit_tests.log" 2>&1 ||
  { status=1; echo "sanitized_unit_tests: FAILED"; tail -60 "$build/sanitized_unit_tests.log"; }
grep -E "^\[  PASSED  \]|^\[  FAILED  \]" "$build/sanitized_unit_tests.log" || true
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t" "$build/findings/$t"
  echo "== fuzz_$t: ${seconds} s, seeds: $(ls fuzz/corpus/$t | wc -l) files"
  extra=()
  # The HTTP server's I/O threads allocate and free beside each input (Asio's handler caches, a connection's
  # last steps), so libFuzzer's per-input leak check, a scan of the whole heap run whenever an input's
  # mallocs and frees differ, ran every time and cut 1,000 inputs a second to 40. Leaks are still found:
  # LeakSanitizer checks the process at exit, and test_http runs the transport under it (sanitized_unit_tests).
  [ "$t" = http ] && extra=(-detect_leaks=0)
  "$build/fuzz/fuzz_$t" "${extra[@]}" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=3072 \
    -print_final_stats=1 -artifact_prefix="$build/findings/$t/" "$build/corpus/$t" "fuzz/corpus/$t" \
    > "$build/fuzz_$t.log" 2>&1 || { status=1; echo "fuzz_$t: FINDING"; tail -40 "$build/fuzz_$t.log"; }
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/fuzz_$t.log" | tr '\n' ' '
  echo "corpus now $(ls "$build/corpus/$t" | wc -l) new inputs"
done
exit $status
