#!/usr/bin/env bash
# Feature-extraction benchmark against the PyTorch reference, in the same run, on the same WAV files.
# Uses the 100 real GTZAN clips in ../shared/data/gtzan-sample (FLAC), decoded to 16-bit WAV in a
# temporary folder first, as the issue asks. Skips cleanly when the sample is not there.
#   bench/run_features.sh [SAMPLE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
sample=${1:-../shared/data/gtzan-sample}
reference=../shared/reference/pytorch_baseline.py
if [ ! -d "$sample" ]; then echo "skip: no audio sample at $sample"; exit 0; fi
[ -x build/bench/bench_features ] || scripts/build.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
build/bench/bench_features "$sample" --wav-dir "$tmp" --repeat 5
# The whole `genrenet features` command on one thread, writing .npy files: per clip, its start-up excluded
# ((time for all files - time for one file) / (files - 1)), best of three.
files=("$tmp"/*.wav)
# Each run writes into a folder of its own, kept until the end: replacing the .npy files of an earlier run
# costs ext4 0.4-0.7 ms more a file (freeing the old file's blocks, and the flush ext4 starts when a rename
# replaces a file), and creating files just after many were deleted 0.1-0.15 ms more (the inode allocator
# skips recently freed inodes).
best_of_three() {
  local best=""
  for run in 1 2 3; do
    local t0 t1 out="$tmp/out-$#-$run"
    mkdir -p "$out"
    t0=$(date +%s.%N)
    build/genrenet features --threads 1 --out "$out" "$@" > /dev/null
    t1=$(date +%s.%N)
    best=$(python3 -c "import sys; a=float(sys.argv[1]); b=float(sys.argv[2]); print(a if a and a < b else b)" "${best:-0}" "$(python3 -c "print($t1 - $t0)")")
  done
  echo "$best"
}
one=$(best_of_three "${files[0]}")
all=$(best_of_three "${files[@]}")
python3 -c "
import json, sys
one, all_, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(json.dumps(dict(bench='features_command', impl='genrenet', threads=1, clips=n, one_file_s=round(one, 3),
                      all_files_s=round(all_, 3), ms_per_clip=round((all_ - one) / (n - 1) * 1000, 2))))" "$one" "$all" "${#files[@]}"
if [ -f "$reference" ]; then
  /usr/bin/python3 "$reference" features "$tmp" --threads 1
  /usr/bin/python3 "$reference" features "$tmp" --threads "$(nproc)"
else
  echo "skip: no reference at $reference"
fi
