#!/usr/bin/env bash
# This build against another (an earlier commit's, built beside it), in one run on one machine: the features
# stages and roofline, the `features` command of both builds on one thread, torchaudio 0.13 (Debian) and a
# 2.x (the virtual environment $GENRENET_BENCH_VENV, when there), prediction in int8 end to end with both
# builds (bench/run_predict.sh), full fine-tuning's training steps (`genrenet tune --train`) of both, and
# `genrenet embed` of the files with both.
#   bench/compare_builds.sh BASELINE_BUILD_DIR [AUDIO_DIR]     (default AUDIO_DIR: ../shared/data/gtzan-sample)
# A baseline build: git worktree add /tmp/before COMMIT && cmake -S /tmp/before -B /tmp/build-before -G Ninja
#   -DCMAKE_BUILD_TYPE=Release -DGENRENET_BUILD_TESTS=OFF -DGENRENET_BUILD_BENCH=OFF && cmake --build /tmp/build-before --target genrenet_cli
# GENRENET_BENCH_BF16=0 leaves bf16 prediction out (emulated on CPUs without native bf16: minutes).
# A baseline built with its benchmarks (-DGENRENET_BUILD_BENCH=ON, targets bench_model bench_features) is
# also compared stage by stage: bench_features and bench_model of both builds, alternated.
# GENRENET_BENCH_ONLY_STAGES=1 stops after that comparison (a restructuring's "speed unchanged" check);
# GENRENET_BENCH_ONLY_FEATURES=1 after the `features` commands and torchaudio.
# GENRENET_BENCH_THIS=DIR measures another build than build/ as "this build", up to the torchaudio rows: a
# build configured with -DGENRENET_SIMD_MAX=v3 runs, on an AVX-512 CPU, the feature kernels of a CPU with
# AVX2 only (docs/FEATURES.md).
set -euo pipefail
cd "$(dirname "$0")/.."
this=${GENRENET_BENCH_THIS:-build}
baseline=${1:?usage: compare_builds.sh BASELINE_BUILD_DIR [AUDIO_DIR]}
data=${2:-../shared/data/gtzan-sample}
[ -d "$data" ] || { echo "skip: no audio at $data"; exit 0; }
[ -x "$baseline/genrenet" ] || { echo "no genrenet program in $baseline"; exit 1; }
[ -x "$this/bench/bench_features" ] || { [ "$this" = build ] && scripts/build.sh; } || { echo "no bench_features in $this"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/wav"
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
"$this/bench/bench_features" "$data" --wav-dir "$work/wav" --repeat 5
wavs=("$work"/wav/*.wav)
if [ -x "$baseline/bench/bench_model" ] && [ -x "$baseline/bench/bench_features" ]; then
  modes=${GENRENET_BENCH_MODES:-fp32,fp32-cl,int8}
  for round in 1 2; do
    for b in "$this" "$baseline"; do
      echo "## round $round: $b"
      "$b/bench/bench_features" "$work/wav" --repeat 3 | grep -v '^#'
      "$b/bench/bench_model" --modes "$modes" --steps 5 | grep -v '^#'
    done
  done
  [ "${GENRENET_BENCH_ONLY_STAGES:-0}" = 1 ] && exit 0
fi
# Each run writes into a folder of its own, all removed at the end: on ext4 without a journal (this VM's),
# creating a file where many were deleted in the last minutes makes the inode allocator check and skip each
# recently freed one (recently_deleted), which cost 0.1-0.3 ms a file here: a cost of earlier clean-ups
# rather than of either build. Runs soon after deleting many files measure it; wait some minutes first.
# Per clip = (T(5 x the files) - T(the files)) / (4 x the files): LibTorch's start-up, which moves by ~50 ms
# between runs here, cancels, and what is left of its spread is divided by 400 clips (by 99 with one file
# against all of them, which moved the figure by up to 1 ms a clip).
# The builds take turns, so that a slower spell of the shared machine falls on both.
# Also with --no-write: the same work as the torchaudio loop below, which keeps its spectrograms in memory.
declare -A best_one best_all
many=("${wavs[@]}" "${wavs[@]}" "${wavs[@]}" "${wavs[@]}" "${wavs[@]}")
run=0
for _ in 1 2 3; do
  for g in "$this/genrenet" "$baseline/genrenet"; do
    for mode in write no-write; do
      run=$((run + 1)) && mkdir -p "$work/out/$run-one" "$work/out/$run-all"
      flags=(--threads 1)
      [ "$mode" = write ] || flags+=(--no-write)
      t0=$(date +%s.%N); "$g" features "${flags[@]}" --out "$work/out/$run-one" "${wavs[@]}" > /dev/null; t1=$(date +%s.%N)
      t2=$(date +%s.%N); "$g" features "${flags[@]}" --out "$work/out/$run-all" "${many[@]}" > /dev/null; t3=$(date +%s.%N)
      best_one[$g $mode]=$(python3 -c "print(min(${best_one[$g $mode]:-999}, $t1 - $t0))")
      best_all[$g $mode]=$(python3 -c "print(min(${best_all[$g $mode]:-999}, $t3 - $t2))")
    done
  done
done
for g in "$this/genrenet" "$baseline/genrenet"; do
  for mode in write no-write; do
    python3 -c "print('$g features --threads 1 ($mode): %.2f ms a clip (start-up excluded)' % ((${best_all[$g $mode]} - ${best_one[$g $mode]}) / (${#many[@]} - ${#wavs[@]}) * 1000))"
  done
done
reference=../shared/reference/pytorch_baseline.py
# torchaudio three times each, as the builds' best of three above: its time moves most between runs here.
if [ -f "$reference" ]; then
  venv=${GENRENET_BENCH_VENV:-.venv-bench}
  for _ in 1 2 3; do
    /usr/bin/python3 "$reference" features "$work/wav" --threads 1 2>&1 | grep '^{'
    [ ! -x "$venv/bin/python" ] || "$venv/bin/python" "$reference" features "$work/wav" --threads 1 2>&1 | grep '^{'
  done
fi
[ "${GENRENET_BENCH_ONLY_FEATURES:-0}" = 1 ] && exit 0
[ "$this" = build ] || { echo "(stopped here: the prediction, tuning and embedding rows below measure build/ only)"; exit 0; }
GENRENET_BENCH_BASELINE=$baseline bash bench/run_predict.sh "" "$data"
for g in "$this/genrenet" "$baseline/genrenet"; do echo "$g tune --train:"; "$g" tune --train --batch 16 2>&1 | tail -4; done
# Embeddings of the files (`genrenet embed`, every core) with both builds in turns, best of two, after a warm-up
# of two files each (a build measures its float precision once, cached); an untrained paper-shaped model.
source bench/synthetic_work.sh
embed_model=$(throwaway_model "$work")
for g in "$this/genrenet" "$baseline/genrenet"; do "$g" embed -m "$embed_model" "${wavs[@]:0:2}" --out "$work/warm-$RANDOM.npy" > /dev/null 2>&1; done
declare -A best_embed
for round in 1 2; do
  for g in "$this/genrenet" "$baseline/genrenet"; do
    t0=$(date +%s.%N); "$g" embed -m "$embed_model" "${wavs[@]}" --out "$work/embed-$round-$RANDOM.npy" > /dev/null 2>&1; t1=$(date +%s.%N)
    best_embed[$g]=$(python3 -c "print(min(${best_embed[$g]:-999}, $t1 - $t0))")
  done
done
for g in "$this/genrenet" "$baseline/genrenet"; do
  python3 -c "print('$g embed of ${#wavs[@]} files: %.2f s (best of 2)' % ${best_embed[$g]})"
done
