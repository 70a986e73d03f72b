#!/usr/bin/env bash
# ResNet-18 training-step and inference speed against the PyTorch reference, in the same run.
#   bench/run_model.sh [--steps N]
set -euo pipefail
cd "$(dirname "$0")/.."
reference=../shared/reference/pytorch_baseline.py
[ -x build/bench/bench_model ] || scripts/build.sh
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
build/bench/bench_model "$@"
if [ -f "$reference" ]; then
  /usr/bin/python3 "$reference" train "$@"
  /usr/bin/python3 "$reference" infer "$@"
else
  echo "skip: no reference at $reference"
fi
