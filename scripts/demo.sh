#!/usr/bin/env bash
# The main job on the built-in default: installs what it needs, builds, synthesises a piece of music and
# runs the pipeline's first stage on it: features (the 128x1024 model input as .npy) and the paper's
# figures (waveform and log-mel spectrogram as PNG). Everything lands in ./out/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
mkdir -p out/demo
build/genrenet example-clip out/demo/clip.wav --seconds 30
build/genrenet features out/demo/clip.wav --out out/demo
build/genrenet show out/demo/clip.wav --waveform out/demo/waveform.png --mel out/demo/mel.png
echo "figures: out/demo/waveform.png out/demo/mel.png; model input: out/demo/clip.npy"
