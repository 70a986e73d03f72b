#!/usr/bin/env bash
# Prediction end to end (file -> decode -> resample -> log-mel -> ResNet-18 -> genres) over real audio,
# against the same pipeline in PyTorch (bench/pytorch_predict_reference.py), in the same run.
#   bench/run_predict.sh [MODEL.safetensors] [AUDIO_DIR]      (default AUDIO_DIR: ../shared/data/gtzan-sample)
# Without a model, a paper-shaped one (ResNet-18, 128x1024) is trained for one epoch on synthetic clips: its
# accuracy does not matter for speed. Prints: the whole `genrenet predict` command on N files and on 3N
# (start-up, model load and first-batch set-up included), the steady state (the 2N files beyond the first
# N), PyTorch's clips per second, and how many files the two give the same top genre.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/genrenet ] || scripts/build.sh
model=${1:-}
data=${2:-../shared/data/gtzan-sample}
if [ ! -d "$data" ]; then
  echo "skip: no audio folder at $data"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$model" ]; then
  source bench/synthetic_work.sh
  model=$(throwaway_model "$work")
fi
find "$data" -type f \( -name '*.wav' -o -name '*.au' -o -name '*.flac' -o -name '*.ogg' -o -name '*.mp3' \) | sort > "$work/list.txt"
n=$(wc -l < "$work/list.txt")
cat "$work/list.txt" "$work/list.txt" "$work/list.txt" > "$work/list3.txt"
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); $n files from $data"
seconds() {  # wall time of a command, in seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > /dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
build/genrenet predict -m "$model" "$(head -1 "$work/list.txt")" > /dev/null  # page the libraries in once
t1=$(seconds build/genrenet predict -m "$model" "@$work/list.txt" --format csv)
t3=$(seconds build/genrenet predict -m "$model" "@$work/list3.txt" --format csv)
tv=$(seconds build/genrenet --version)
printf 'genrenet predict, %d files, whole command: %.2f s, %s clips/s\n' "$n" "$t1" "$(ratio "$n" "$t1")"
printf 'genrenet predict, %d files, whole command: %.2f s, %s clips/s\n' "$((3 * n))" "$t3" "$(ratio "$((3 * n))" "$t3")"
printf 'genrenet predict, steady state (the %d files beyond the first %d): %s clips/s\n' "$((2 * n))" "$n" \
  "$(ratio "$((2 * n))" "$(awk -v a="$t1" -v b="$t3" 'BEGIN { print b - a }')")"
printf 'genrenet --version (loading LibTorch, no work): %.2f s\n' "$tv"
build/genrenet predict -m "$model" "@$work/list.txt" --format csv | tail -n +2 | cut -d, -f1,5 > "$work/genrenet.csv"
/usr/bin/python3 bench/pytorch_predict_reference.py "$model" "$work/list.txt" --csv "$work/pytorch.csv"
same=$(sort "$work/genrenet.csv" | join -t, - <(sort "$work/pytorch.csv") | awk -F, '$2 == $3' | wc -l)
echo "same top genre from genrenet and PyTorch: $same of $n files"
