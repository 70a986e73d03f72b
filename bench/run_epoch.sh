#!/usr/bin/env bash
# Whole training epochs at the paper's size, through `genrenet train` itself (data loading, SpecAugment,
# validation and checkpoints included): 1000 synthetic clips split 800/100/100, batch 16, 128x1024 inputs.
# The clips are 4 s long so that synthesising them takes a minute, not half an hour; every clip is padded
# to the paper's 1024 frames, so the model's work per step is that of 30-s clips.
#   1. the paper's best configuration: ResNet-18, first 8 top-level modules frozen, SpecAugment (2 epochs),
#      with the frozen trunk in the measured precision (auto) and as a training network (--trunk-precision off)
#   2. full fine-tuning: nothing frozen (1 epoch; GENRENET_BENCH_FULL=0 leaves it out)
# then PyTorch's training step rates in the same run: Debian's 1.13 (/usr/bin/python3), and a 2.x in the
# virtual environment $GENRENET_BENCH_VENV when it is there (eager and torch.compile). Weights are random:
# speed does not depend on them.
#   bench/run_epoch.sh [WORK_DIR]      (default: a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/synthetic_work.sh
synthetic_work "${1:-}" 100
# clips/s of each epoch: its 800 training clips over its seconds (validation and checkpoint included).
epoch_rates() { tail -n +2 "$1/metrics.csv" | awk -F, '{printf "%.1f s (%.1f clips/s)  ", $6, 800 / $6}'; }
for trunk in auto off; do
  rm -rf "$work/frozen8-$trunk"
  build/genrenet train --data "$work/data" --cache "$work/cache" --out "$work/frozen8-$trunk" --frames 1024 \
    --freeze-children 8 --specaugment --epochs 2 --batch 16 --trunk-precision "$trunk" > "$work/frozen8-$trunk.log" 2>&1
  echo "frozen-8 + SpecAugment, trunk $trunk ($(grep -o 'inference network in [a-z0-9-]*' "$work/frozen8-$trunk.log" || echo 'training network')): $(epoch_rates "$work/frozen8-$trunk")"
done
if [ "${GENRENET_BENCH_FULL:-1}" != 0 ]; then
  build/genrenet train --data "$work/data" --cache "$work/cache" --out "$work/full" --frames 1024 --epochs 1 --batch 16 > "$work/full.log"
  echo "full fine-tuning: $(epoch_rates "$work/full")"
fi
# PyTorch's step rates (bench/pytorch_modes.py: the reference's model and steps, restricted to the modes in
# GENRENET_BENCH_TORCH_MODES, default fp32,bf16_cl; leave bf16_cl out on a CPU without native bf16, where
# it takes a minute a step); the 2.x environment adds the torch.compile'd form of each mode.
if [ -f ../shared/reference/pytorch_baseline.py ]; then
  modes=${GENRENET_BENCH_TORCH_MODES:-fp32,bf16_cl}
  /usr/bin/python3 bench/pytorch_modes.py train --frozen 8 --modes "$modes"
  [ "${GENRENET_BENCH_FULL:-1}" = 0 ] || /usr/bin/python3 bench/pytorch_modes.py train --modes "$modes"
  venv=${GENRENET_BENCH_VENV:-.venv-bench}
  if [ -x "$venv/bin/python" ]; then
    "$venv/bin/python" bench/pytorch_modes.py train --frozen 8 --modes "$modes,$(echo "$modes" | sed 's/\([a-z0-9_]*\)/compile_\1/g')"
  else
    echo "skip: no PyTorch 2.x virtual environment at $venv (bench/run_torch_lines.sh makes one)"
  fi
else
  echo "skip: no reference at ../shared/reference/pytorch_baseline.py"
fi
