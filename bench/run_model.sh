#!/usr/bin/env bash
# ResNet-18 training-step and inference speed in every precision against the PyTorch reference, in the same
# run: full fine-tuning, the paper's best configuration (first 8 top-level modules frozen), inference in
# fp32 / fp32 channels_last / bf16 / int8 (PyTorch's own post-training int8 too), and what `auto` picks.
#   bench/run_model.sh [--steps N]
set -euo pipefail
cd "$(dirname "$0")/.."
reference=../shared/reference/pytorch_baseline.py
[ -x build/bench/bench_model ] || scripts/build.sh
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
build/bench/bench_model "$@"
build/bench/bench_model --freeze-children 8 --modes fp32,fp32-cl,bf16 "$@"
if [ -f "$reference" ]; then
  /usr/bin/python3 "$reference" train "$@"
  /usr/bin/python3 "$reference" train --frozen 8 "$@"
  /usr/bin/python3 "$reference" infer --int8 "$@"
else
  echo "skip: no reference at $reference"
fi
# What --precision auto chooses here (measured afresh; also cached for later runs).
build/genrenet tune --batch 16
build/genrenet tune --train --batch 16
build/genrenet tune --train --freeze-children 8 --batch 16
