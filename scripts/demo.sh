#!/usr/bin/env bash
# The main job on the built-in default: installs what it needs, builds, and runs `genrenet demo`, which
# synthesises ten genres, trains ResNet-18 on them, evaluates it on held-out clips and draws the figures
# (confusion matrix, training curves, SpecAugment preview, log-mel spectrogram) into ./out/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/genrenet demo --out out/demo "$@"
