#!/usr/bin/env bash
# Data-parallel scaling on this machine, through `genrenet train` itself: ResNet-18, full fine-tuning,
# 128x1024 inputs, a global batch of 16, on 200 synthetic 4-s clips (160 train, 20 validation): one process
# with every core against --nproc 2 (batch 8 each, half the cores each), 2 epochs each, the second
# epoch's seconds reported (the first includes start-up). Then PyTorch in the same run: one process, and
# DistributedDataParallel over Gloo with 2 processes (bench/pytorch_ddp_reference.py).
#   bench/run_distributed.sh [WORK_DIR]      (default: a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/synthetic_work.sh
synthetic_work "${1:-}" 20
second_epoch() { sed -n 3p "$1/metrics.csv" | cut -d, -f6; }
report() {  # name run-folder
  local s
  s=$(second_epoch "$2")
  echo "{\"bench\": \"train_epoch\", \"impl\": \"genrenet\", \"config\": \"$1\", \"epoch_s\": $s, \"train_clips_per_s\": $(echo "scale=2; 160 / $s" | bc)}"
}
common=(train --data "$work/data" --cache "$work/cache" --frames 1024 --epochs 2)
rm -rf "$work/one" "$work/two"
build/genrenet "${common[@]}" --batch 16 --out "$work/one" > "$work/one.log"
report "1 process x batch 16" "$work/one"
build/genrenet "${common[@]}" --batch 8 --nproc 2 --out "$work/two" > "$work/two.log"
report "2 processes x batch 8" "$work/two"
if /usr/bin/python3 -c "import torchvision" 2> /dev/null; then
  /usr/bin/python3 bench/pytorch_ddp_reference.py --nproc 1 --batch 16
  /usr/bin/python3 bench/pytorch_ddp_reference.py --nproc 2 --batch 8
else
  echo "skip: no python3-torchvision for the PyTorch reference"
fi
