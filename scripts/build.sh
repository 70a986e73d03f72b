#!/usr/bin/env bash
# Configures and builds genrenet (Release).
#   scripts/build.sh [--torch debian|pip|DIR] [cmake configure arguments...]
# --torch (or GENRENET_TORCH) picks the LibTorch: Debian's 1.13.1 into ./build (the default), PyPI's torch
# wheel into ./build-pip, or an unzipped LibTorch folder into ./build-libtorch (scripts/libtorch.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--torch" ]; then
  export GENRENET_TORCH="${2:?--torch needs debian, pip or a LibTorch folder}"
  shift 2
fi
source scripts/libtorch.sh
genrenet_choose_libtorch
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "${TORCH_CMAKE_ARGS[@]}" "$@"
fi
cmake --build "$BUILD_DIR" --parallel "$(nproc)"
echo "built in $BUILD_DIR"
