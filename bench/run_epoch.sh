#!/usr/bin/env bash
# Whole training epochs at the paper's size, through `genrenet train` itself (data loading, SpecAugment,
# validation and checkpoints included): 1000 synthetic clips split 800/100/100, batch 16, 128x1024 inputs.
# The clips are 4 s long so that synthesising them takes a minute, not half an hour; every clip is padded
# to the paper's 1024 frames, so the model's work per step is that of 30-s clips.
#   1. the paper's best configuration: ResNet-18, first 8 top-level modules frozen, SpecAugment (2 epochs),
#      with the frozen trunk in the measured precision (auto) and as a training network (--trunk-precision off)
#   2. full fine-tuning: nothing frozen (1 epoch; GENRENET_BENCH_FULL=0 leaves it out)
# then PyTorch's training step rates in the same run: Debian's 1.13 (/usr/bin/python3), and a 2.x in the
# virtual environment $GENRENET_BENCH_VENV when it is there (eager and torch.compile), and each genrenet
# build's epoch 2 against the best of them. Weights are random: speed does not depend on them.
#   bench/run_epoch.sh [WORK_DIR]      (default: a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/synthetic_work.sh
synthetic_work "${1:-}" 100
# clips/s of each epoch: its 800 training clips over its seconds (validation and checkpoint included).
epoch_rates() { tail -n +2 "$1/metrics.csv" | awk -F, '{printf "%.1f s (%.1f clips/s)  ", $6, 800 / $6}'; }
# GENRENET_BENCH_BUILDS names the builds whose `genrenet train` runs (default: build, Debian's LibTorch 1.13;
# "build build-pip" adds the LibTorch 2.x one of scripts/build.sh --torch pip); a missing one is skipped.
# GENRENET_BENCH_ROUNDS (default 1) repeats genrenet's frozen-8 runs and PyTorch's frozen-8 steps in turns: on
# a shared VM whose speed moves by half between minutes, a ratio is only worth the rounds behind it.
modes=${GENRENET_BENCH_TORCH_MODES:-fp32,bf16_cl}
venv=${GENRENET_BENCH_VENV:-.venv-bench}
reference=../shared/reference/pytorch_baseline.py
[ -f "$reference" ] || echo "skip: no reference at $reference"
[ -x "$venv/bin/python" ] || echo "skip: no PyTorch 2.x virtual environment at $venv (bench/run_torch_lines.sh makes one)"
rounds=${GENRENET_BENCH_ROUNDS:-1}
for round in $(seq "$rounds"); do
  [ "$rounds" = 1 ] || echo "## round $round"
  best_genrenet=()
  for b in ${GENRENET_BENCH_BUILDS:-build}; do
    if [ ! -x "$b/genrenet" ]; then
      echo "skip: no $b/genrenet"
      continue
    fi
    for trunk in auto off; do
      run=$work/frozen8-$trunk-$(basename "$b")
      rm -rf "$run"
      "$b/genrenet" train --data "$work/data" --cache "$work/cache" --out "$run" --frames 1024 \
        --freeze-children 8 --specaugment --epochs 2 --batch 16 --trunk-precision "$trunk" > "$run.log" 2>&1
      echo "$b ($("$b/genrenet" --version | head -1)), frozen-8 + SpecAugment, trunk $trunk ($(grep -o 'inference network in [a-z0-9-]*' "$run.log" || echo 'training network')): $(epoch_rates "$run")"
      [ "$trunk" = off ] || best_genrenet+=("$b $(tail -1 "$run/metrics.csv" | awk -F, '{printf "%.1f", 800 / $6}')")
    done
  done
  # PyTorch's step rates (bench/pytorch_modes.py: the reference's model and steps, restricted to the modes in
  # GENRENET_BENCH_TORCH_MODES, default fp32,bf16_cl; leave bf16_cl out on a CPU without native bf16, where
  # it takes a minute a step); the 2.x environment adds the torch.compile'd form of each mode.
  [ -f "$reference" ] || continue
  torch_lines=$(/usr/bin/python3 bench/pytorch_modes.py train --frozen 8 --modes "$modes" 2>/dev/null | grep '^{' || true)
  if [ -x "$venv/bin/python" ]; then
    torch_lines+=$'\n'$("$venv/bin/python" bench/pytorch_modes.py train --frozen 8 \
      --modes "$modes,$(echo "$modes" | sed 's/\([a-z0-9_]*\)/compile_\1/g')" 2>/dev/null | grep '^{' || true)
  fi
  echo "$torch_lines"
  best_torch=$(echo "$torch_lines" | python3 -c 'import json, sys
rates = [json.loads(l).get("clips_per_s", 0) for l in sys.stdin if l.startswith("{")]
print(max(rates, default=0))')
  for g in "${best_genrenet[@]}"; do
    python3 -c 'import sys
build, rate, best = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
if best > 0: print(f"{build}: epoch 2 at {rate:.1f} clips/s, {rate / best:.2f}x the best of the PyTorch frozen-8 step rates run in this round ({best})")' \
      "${g% *}" "${g##* }" "$best_torch"
  done
done
if [ "${GENRENET_BENCH_FULL:-1}" != 0 ]; then
  build/genrenet train --data "$work/data" --cache "$work/cache" --out "$work/full" --frames 1024 --epochs 1 --batch 16 > "$work/full.log"
  echo "full fine-tuning: $(epoch_rates "$work/full")"
  [ ! -f "$reference" ] || /usr/bin/python3 bench/pytorch_modes.py train --modes "$modes"
fi
