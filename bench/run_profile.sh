#!/usr/bin/env bash
# Where a training step's time goes: ResNet-18, batch 16, 3x128x1024, bf16 autocast + channels_last, full
# fine-tuning and the paper's best configuration (first 8 top-level modules frozen), self time by op
# under LibTorch's profiler (bench_model --profile 1), then PyTorch's profiler on the same step in the
# same run (bench/pytorch_profile_reference.py).
#   bench/run_profile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/bench_model ] || scripts/build.sh
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for frozen in 0 8; do
  build/bench/bench_model --channels 3 --modes bf16_cl --steps 3 --freeze-children "$frozen" --profile 1 | grep -v '"infer"'
  if /usr/bin/python3 -c "import torchvision" 2> /dev/null; then
    /usr/bin/python3 bench/pytorch_profile_reference.py --frozen-children "$frozen"
  else
    echo "skip: no python3-torchvision for the PyTorch reference"
  fi
done
