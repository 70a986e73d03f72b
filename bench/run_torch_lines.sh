#!/usr/bin/env bash
# genrenet on both LibTorch lines beside PyTorch 1.13 and today's PyTorch 2.x, in one run (issue 26,
# docs/PERFORMANCE.md "Both LibTorch lines"): ResNet-18 training steps (full, and the paper's 8 frozen
# modules), inference in every precision (int8 included; PyTorch: eager, torch.compile, eager int8 and PT2E
# int8 with X86InductorQuantizer + compile), what genrenet's `auto` picks, and features on one thread.
#   bench/run_torch_lines.sh [--steps N]
# Builds used: build/ (Debian's LibTorch 1.13.1) and build-pip/ (scripts/build.sh --torch pip); a missing one is
# skipped with a line saying so (GENRENET_BENCH_BUILDS names others). PyTorch 2.x runs from $GENRENET_BENCH_VENV (default .venv-bench), created
# with the newest torch / torchvision / torchaudio set that installs together (2.11.0 / 0.26.0 / 2.11.0, and
# torchcodec 0.17.0, which torchaudio 2.9+ reads audio with, and torchao 0.18.0, where PT2E int8 lives since
# torch.ao lost it; ~5 GB) when absent. Every line says which torch it ran on; the first line names the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
reference=../shared/reference/pytorch_baseline.py
sample=../shared/data/gtzan-sample
venv="${GENRENET_BENCH_VENV:-.venv-bench}"
steps=(--steps 3)
[ "${1:-}" = "--steps" ] && steps=(--steps "$2")
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" \
  "(family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | tr -d ' '))"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, torchvision, torchaudio, torchcodec, torchao" 2>/dev/null; then
  # torchaudio 2.9+ reads audio through torchcodec (FFmpeg: Debian's libavcodec59 serves).
  echo "installing PyTorch 2.11 (torch, torchvision, torchaudio, torchcodec, torchao) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0 torchcodec==0.17.0 torchao==0.18.0
fi

work=$(mktemp -d)  # the sample as WAV (when there is one) and each build's fresh `auto` cache
trap 'rm -rf "$work"' EXIT
wavs=""
if [ -d "$sample" ]; then
  wavs=$work/wavs
  mkdir -p "$wavs"
fi

for build in ${GENRENET_BENCH_BUILDS:-build build-pip}; do
  if [ ! -x "$build/bench/bench_model" ]; then
    echo "skip: no $build/bench/bench_model (scripts/build.sh$([ "$build" = build-pip ] && echo ' --torch pip'))"
    continue
  fi
  echo "## $build: $("$build/genrenet" --version)"
  # GENRENET_BENCH_MODES leaves out a precision known to be hopeless on this CPU (bf16 without native bf16).
  modes=${GENRENET_BENCH_MODES:-fp32,fp32-cl,bf16,int8}
  "$build/bench/bench_model" --modes "$modes" "${steps[@]}"
  "$build/bench/bench_model" --freeze-children 8 --modes "${modes/,int8/}" "${steps[@]}"
  GENRENET_CACHE_DIR="$work/cache-$(basename "$build")" "$build/genrenet" tune --batch 16
  if [ -n "$wavs" ]; then
    "$build/bench/bench_features" "$sample" --wav-dir "$wavs" --repeat 3
  fi
done

if [ ! -f "$reference" ]; then
  echo "skip: no reference at $reference"
  exit 0
fi
# GENRENET_BENCH_TORCH_MODES (e.g. fp32,compile_fp32) runs the reference restricted to those modes
# (bench/pytorch_modes.py); unset, the reference runs whole.
for python in /usr/bin/python3 "$venv/bin/python"; do
  compile=()
  [ "$python" != /usr/bin/python3 ] && compile=(--compile)
  echo "## PyTorch: $("$python" -c 'import torch; print(torch.__version__)')"
  if [ -n "${GENRENET_BENCH_TORCH_MODES:-}" ]; then
    torch_modes=$GENRENET_BENCH_TORCH_MODES pt2e=()
    [ "$python" = /usr/bin/python3 ] && torch_modes=$(echo "$torch_modes" | tr ',' '\n' | grep -v compile_ | paste -sd,)
    [ "$python" != /usr/bin/python3 ] && pt2e=(--pt2e)
    "$python" bench/pytorch_modes.py train --modes "$torch_modes" "${steps[@]}"
    "$python" bench/pytorch_modes.py train --frozen 8 --modes "$torch_modes" "${steps[@]}"
    "$python" bench/pytorch_modes.py infer --int8 "${pt2e[@]}" --modes "$torch_modes" "${steps[@]}"
  else
    "$python" "$reference" train "${steps[@]}" "${compile[@]}"
    "$python" "$reference" train --frozen 8 "${steps[@]}" "${compile[@]}"
    "$python" "$reference" infer --int8 "${steps[@]}" "${compile[@]}"
  fi
  if [ -n "$wavs" ]; then "$python" "$reference" features "$wavs" --threads 1; fi
done
