#!/usr/bin/env bash
# Configures and builds genrenet into ./build (Release). Extra arguments go to cmake's configure step,
# for example -DCMAKE_PREFIX_PATH=/opt/libtorch for another LibTorch build.
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
fi
cmake --build build --parallel "$(nproc)"
