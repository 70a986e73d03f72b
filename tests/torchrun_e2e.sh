#!/bin/sh
# genrenet workers started by PyTorch's own launcher, torchrun (of the PyTorch whose LibTorch genrenet is built on), unchanged: the
# launcher serves the rendezvous store and sets RANK, WORLD_SIZE, ...; genrenet joins it. Skips (77)
# without torchrun.
#   torchrun_e2e.sh GENRENET_EXE [TORCHRUN]
set -eu
exe=$1
torchrun=${2:-$(command -v torchrun || true)}
[ -n "$torchrun" ] && [ -x "$torchrun" ] || { echo "skip: no torchrun"; exit 77; }
# Its PyTorch and genrenet's LibTorch must be one line (major.minor): their stores speak different protocols.
python=$(head -1 "$torchrun" | sed 's/^#! *//; s/ .*//')
theirs=$("$python" -c 'import torch; print(".".join(torch.__version__.split(".")[:2]))' 2>/dev/null || echo unknown)
ours=$("$exe" --version | sed 's/.*LibTorch \([0-9]*\.[0-9]*\).*/\1/')
[ "$theirs" = "$ours" ] || { echo "skip: $torchrun is PyTorch $theirs, genrenet is built on LibTorch $ours"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$exe" synth --out "$work/data" --per-class 4 --seconds 1 --sample-rate 8000 > /dev/null
# -r 1 -t 1: Debian's torchrun 1.13 under Python 3.11 fails on its default (no redirection); this sends
# the workers' output to log files and to the console.
port=$(/usr/bin/python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$torchrun" --nproc_per_node 2 --master_addr 127.0.0.1 --master_port "$port" -r 1 -t 1 --log_dir "$work/logs" --no_python \
  "$exe" train --data "$work/data" --out "$work/run" --cache "$work/cache" --epochs 1 --batch 4 \
  --sample-rate 8000 --n-fft 256 --hop-length 128 --n-mels 32 --frames 48 --precision fp32 > "$work/out.log" 2>&1 ||
  { cat "$work/out.log"; exit 1; }
grep -q "data-parallel: 2 processes x batch 4 = global batch 8" "$work/out.log" || { cat "$work/out.log"; exit 1; }
test -s "$work/run/last.safetensors"
test -s "$work/run/metrics.csv"
echo "torchrun started 2 genrenet workers; the run finished"
