#!/usr/bin/env bash
# Prediction end to end (file -> decode -> resample -> log-mel -> ResNet-18 -> genres) over real audio,
# against the same pipeline in PyTorch (bench/pytorch_predict_reference.py), in the same run.
#   bench/run_predict.sh [MODEL.safetensors] [AUDIO_DIR]      (default AUDIO_DIR: ../shared/data/gtzan-sample)
# Without a model, a paper-shaped one (ResNet-18, 128x1024) is trained for one epoch on synthetic clips: its
# accuracy does not matter for speed. Prints, for the default precision, bf16 and int8 (a copy calibrated by
# `genrenet quantize` on 32 of the files): the whole `genrenet predict` command on N files and on 3N
# (start-up, model load and first-batch set-up included), the steady state (the 2N files beyond the first
# N); then PyTorch's clips per second (Debian's 1.13, and 2.x from $GENRENET_BENCH_VENV when there), and how
# many files give the same top genre.
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
# The same model calibrated for int8 on 32 of the files (genrenet quantize), for the int8 rows.
build/genrenet quantize -m "$model" --data "@$work/list.txt" --clips 32 --out "$work/int8.safetensors" > /dev/null
time_predict() {  # LABEL MODEL [predict options]; $exe: the genrenet program (default build/genrenet)
  local label=$1 m=$2 g=${exe:-build/genrenet}
  shift 2
  "$g" predict -m "$m" "$(head -1 "$work/list.txt")" "$@" > /dev/null  # page in; measure "auto" once
  local t1 t3
  t1=$(seconds "$g" predict -m "$m" "@$work/list.txt" --format csv "$@")
  t3=$(seconds "$g" predict -m "$m" "@$work/list3.txt" --format csv "$@")
  printf '%s: %d files %.2f s (%s clips/s), %d files %.2f s (%s clips/s), steady state %s clips/s\n' "$label" \
    "$n" "$t1" "$(ratio "$n" "$t1")" "$((3 * n))" "$t3" "$(ratio "$((3 * n))" "$t3")" \
    "$(ratio "$((2 * n))" "$(awk -v a="$t1" -v b="$t3" 'BEGIN { print b - a }')")"
}
time_predict "genrenet predict, default precision (auto), uncalibrated model" "$model"
# bf16 where the CPU has it natively (GENRENET_BENCH_BF16=0 leaves it out where it is emulated: minutes).
[ "${GENRENET_BENCH_BF16:-1}" = 0 ] || time_predict "genrenet predict, --precision bf16" "$model" --precision bf16
time_predict "genrenet predict, --precision int8" "$work/int8.safetensors" --precision int8
# Decoding and features of the next files on another thread while the network runs (docs/PERFORMANCE.md).
GENRENET_DECODE_AHEAD=1 time_predict "genrenet predict, --precision int8, decoding ahead" "$work/int8.safetensors" --precision int8
GENRENET_DECODE_AHEAD=0 time_predict "genrenet predict, --precision int8, in turns" "$work/int8.safetensors" --precision int8
# Another build (GENRENET_BENCH_BASELINE=DIR holding a genrenet program, e.g. an earlier commit's) in the same
# run, on the same calibrated model: today's against before.
if [ -n "${GENRENET_BENCH_BASELINE:-}" ]; then
  exe=$GENRENET_BENCH_BASELINE/genrenet time_predict "baseline $GENRENET_BENCH_BASELINE, --precision int8" \
    "$work/int8.safetensors" --precision int8
fi
time_predict "genrenet predict, default precision (auto), int8-calibrated model" "$work/int8.safetensors"
tv=$(seconds build/genrenet --version)
printf 'genrenet --version (loading LibTorch, no work): %.2f s\n' "$tv"
build/genrenet predict -m "$work/int8.safetensors" "@$work/list.txt" --format csv --precision int8 | tail -n +2 | cut -d, -f1,5 > "$work/int8.csv"
build/genrenet predict -m "$model" "@$work/list.txt" --format csv | tail -n +2 | cut -d, -f1,5 > "$work/genrenet.csv"
reference_precision=bf16
if [ "${GENRENET_BENCH_BF16:-1}" = 0 ]; then reference_precision=fp32; fi
/usr/bin/python3 bench/pytorch_predict_reference.py "$model" "$work/list.txt" --precision "$reference_precision" \
  --csv "$work/pytorch.csv"
# Today's PyTorch beside Debian's 1.13, from the virtual environment of the other benchmarks when it is there.
venv=${GENRENET_BENCH_VENV:-.venv-bench}
if [ -x "$venv/bin/python" ]; then
  "$venv/bin/python" bench/pytorch_predict_reference.py "$model" "$work/list.txt" --precision "$reference_precision" \
    2> >(grep -v Warning >&2)
else
  echo "skip: no PyTorch 2.x virtual environment at $venv (bench/run_torch_lines.sh makes one)"
fi
same=$(sort "$work/genrenet.csv" | join -t, - <(sort "$work/pytorch.csv") | awk -F, '$2 == $3' | wc -l)
echo "same top genre from genrenet and PyTorch: $same of $n files"
same=$(sort "$work/genrenet.csv" | join -t, - <(sort "$work/int8.csv") | awk -F, '$2 == $3' | wc -l)
echo "same top genre from genrenet fp32 (auto) and int8: $same of $n files"
