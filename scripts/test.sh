#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test (unit, torchaudio parity, end-to-end CLI).
#   scripts/test.sh [--torch debian|pip|DIR] [ctest arguments...]   (LibTorch choice: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--torch" ]; then
  export GENRENET_TORCH="${2:?--torch needs debian, pip or a LibTorch folder}"
  shift 2
fi
scripts/install-deps.sh
scripts/build.sh
source scripts/libtorch.sh
genrenet_choose_libtorch
cd "$BUILD_DIR"
ctest --output-on-failure --parallel "$(nproc)" "$@"
