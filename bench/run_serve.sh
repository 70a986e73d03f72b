#!/usr/bin/env bash
# Load test of `genrenet serve` on loopback with a paper-shaped model (ResNet-18, 128x1024 log-mels) and a
# 30-s clip, as GTZAN's: requests per second and latency percentiles.
#   bench/run_serve.sh [MODEL.safetensors] [--clients N] [--requests N]
# Without a model, one is trained for one epoch on synthetic clips (its accuracy does not matter here).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/bench_serve ] || scripts/build.sh
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
model=${1:-}
if [ -z "$model" ] || [ "${model#--}" != "$model" ]; then
  source bench/synthetic_work.sh
  model=$(throwaway_model "$work")
else
  shift
fi
build/genrenet example-clip --seconds 30 "$work/clip.wav" > /dev/null
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
build/genrenet serve --model "$model" --port "$port" --quiet --queue 64 > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
build/bench/bench_serve --port "$port" --file "$work/clip.wav" --clients 1 --requests 10 > /dev/null  # warm-up
build/bench/bench_serve --port "$port" --file "$work/clip.wav" "$@"
