#!/usr/bin/env bash
# Whole training epochs at the paper's size, through `genrenet train` itself (data loading, SpecAugment,
# validation and checkpoints included): 1000 synthetic clips split 800/100/100, batch 16, 128x1024 inputs.
# The clips are 4 s long so that synthesising them takes a minute, not half an hour; every clip is padded
# to the paper's 1024 frames, so the model's work per step is that of 30-s clips.
#   1. the paper's best configuration: ResNet-18, first 8 top-level modules frozen, SpecAugment (2 epochs)
#   2. full fine-tuning: nothing frozen (1 epoch)
# then PyTorch's training speed in the same run. Weights are random: speed does not depend on them.
#   bench/run_epoch.sh [WORK_DIR]      (default: a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/synthetic_work.sh
synthetic_work "${1:-}" 100
epoch_seconds() { tail -n +2 "$1/metrics.csv" | cut -d, -f6 | tr '\n' ' '; }
build/genrenet train --data "$work/data" --cache "$work/cache" --out "$work/frozen8" --frames 1024 --freeze-children 8 \
  --specaugment --epochs 2 --batch 16 > "$work/frozen8.log"
echo "frozen-8 + SpecAugment, seconds per epoch (800 train + 100 validation clips): $(epoch_seconds "$work/frozen8")"
build/genrenet train --data "$work/data" --cache "$work/cache" --out "$work/full" --frames 1024 --epochs 1 --batch 16 > "$work/full.log"
echo "full fine-tuning, seconds per epoch (800 train + 100 validation clips): $(epoch_seconds "$work/full")"
reference=../shared/reference/pytorch_baseline.py
if [ -f "$reference" ]; then /usr/bin/python3 "$reference" train; else echo "skip: no reference at $reference"; fi
