#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test (unit, torchaudio parity, end-to-end CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure --parallel "$(nproc)"
