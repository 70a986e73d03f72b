#!/usr/bin/env bash
# Model files move between LibTorch lines (issue 26): a model trained and int8-calibrated by one build is
# read by the other, and both builds name the same genre for every clip, in fp32 and in int8.
#   tests/cross_line_models.sh BUILD_A BUILD_B     e.g. build build-pip (CI runs it after both legs)
# Exit 0: every answer agrees (int8 across lines: at most 1 clip in 20 differs, as int8 kernels of
# different oneDNN versions may round a near-tie the other way); 1: they do not; 77: a build is missing.
set -euo pipefail
a=${1:?usage: cross_line_models.sh BUILD_A BUILD_B} b=${2:?usage: cross_line_models.sh BUILD_A BUILD_B}
for build in "$a" "$b"; do
  [ -x "$build/genrenet" ] || { echo "skip: no $build/genrenet"; exit 77; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "A: $("$a/genrenet" --version)   B: $("$b/genrenet" --version)"
"$a/genrenet" synth --out "$work/data" --per-class 6 --seconds 4 --sample-rate 16000 > /dev/null
"$a/genrenet" train --data "$work/data" --out "$work/run" --epochs 2 --batch 8 --frames 130 --precision fp32 \
  --threads 2 > "$work/train.log" 2>&1 || { tail -20 "$work/train.log"; exit 1; }
model="$work/run/best.safetensors"
find "$work/data" -name '*.wav' | sort | head -20 > "$work/clips.txt"
"$a/genrenet" quantize -m "$model" --data "$work/data" --clips 20 --out "$work/int8-a.safetensors" > /dev/null
"$b/genrenet" quantize -m "$model" --data "$work/data" --clips 20 --out "$work/int8-b.safetensors" > /dev/null
genres() {  # BUILD MODEL PRECISION -> one "file genre" line per clip
  "$1/genrenet" predict -m "$2" "@$work/clips.txt" --format jsonl --precision "$3" |
    python3 -c 'import json, sys
for line in sys.stdin:
    if line.startswith("{"):
        j = json.loads(line); print(j["file"], j["genre"])'
}
status=0
compare() {  # NAME FILE_X FILE_Y MAX_DIFFERENT
  local differ
  differ=$(diff <(cat "$2") <(cat "$3") | grep -c '^<' || true)
  echo "$1: $differ of $(wc -l < "$2") clips differ (allowed: $4)"
  [ "$(wc -l < "$2")" -eq 20 ] && [ "$differ" -le "$4" ] || status=1
}
genres "$a" "$model" fp32 > "$work/a-fp32"
genres "$b" "$model" fp32 > "$work/b-fp32"
compare "fp32 model, A against B" "$work/a-fp32" "$work/b-fp32" 0
for q in a b; do
  genres "$a" "$work/int8-$q.safetensors" int8 > "$work/a-int8-$q"
  genres "$b" "$work/int8-$q.safetensors" int8 > "$work/b-int8-$q"
  compare "int8 calibrated by ${q^^}, read by A against read by B" "$work/a-int8-$q" "$work/b-int8-$q" 1
done
compare "int8 calibrated by A against by B, both read by A" "$work/a-int8-a" "$work/a-int8-b" 1
exit $status
