#!/usr/bin/env bash
# Feature-extraction benchmark against the PyTorch reference, in the same run, on the same WAV files.
# Uses the 100 real GTZAN clips in ../shared/data/gtzan-sample (FLAC), decoded to 16-bit WAV in a
# temporary folder first, as the issue asks. Skips cleanly when the sample is not there.
#   bench/run_features.sh [SAMPLE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
sample=${1:-../shared/data/gtzan-sample}
reference=../shared/reference/pytorch_baseline.py
if [ ! -d "$sample" ]; then echo "skip: no audio sample at $sample"; exit 0; fi
[ -x build/bench/bench_features ] || scripts/build.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
build/bench/bench_features "$sample" --wav-dir "$tmp" --repeat 5
if [ -f "$reference" ]; then
  /usr/bin/python3 "$reference" features "$tmp" --threads 1
  /usr/bin/python3 "$reference" features "$tmp" --threads "$(nproc)"
else
  echo "skip: no reference at $reference"
fi
