#!/usr/bin/env bash
# `genrenet serve` of another build against this one, in the same run: the same client (bench_serve), model
# and clip, the two servers alternating; requests per second, latency, the server's CPU per request, and how
# many of 4 pipelined GETs on one connection are answered.
#   bench/compare_serve.sh OTHER_DIR [MODEL.safetensors]
# OTHER_DIR holds the other build's `genrenet` and `libgenrenet.so*` (copied from its build folder).
# LOADS ("CLIENTS_REQUESTS ...", default "1_50 4_200") and ROUNDS (default "1 2") set the work.
set -euo pipefail
cd "$(dirname "$0")/.."
other=$(cd "${1:?usage: bench/compare_serve.sh OTHER_DIR [MODEL]}" && pwd)
[ -x build/bench/bench_serve ] || scripts/build.sh
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
model=${2:-}
if [ -z "$model" ]; then
  source bench/synthetic_work.sh
  model=$(throwaway_model "$work")
fi
build/genrenet example-clip --seconds 30 "$work/clip.wav" > /dev/null
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
serve_and_measure() {  # BINARY LIBRARY_DIR
  local port
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  LD_LIBRARY_PATH=$2 "$1" serve --model "$model" --port "$port" --quiet --queue 64 --precision bf16 > "$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
  build/bench/bench_serve --port "$port" --file "$work/clip.wav" --clients 1 --requests 10 > /dev/null  # warm-up
  for load in ${LOADS:-1_50 4_200}; do
    local clients=${load%_*} requests=${load#*_} t0 t1 out
    t0=$(awk '{print $14 + $15}' /proc/$server/stat)
    out=$(build/bench/bench_serve --port "$port" --file "$work/clip.wav" --clients "$clients" --requests "$requests" | tail -1)
    t1=$(awk '{print $14 + $15}' /proc/$server/stat)
    echo "$clients clients: $(echo "$out" | /usr/bin/python3 -c 'import json, sys; j = json.load(sys.stdin); l = j["latency_ms"]
print("%.1f req/s, p50 %.0f p90 %.0f p99 %.0f ms, failed %d, 503 %d" % (j["requests_per_s"], l["p50"], l["p90"], l["p99"], j["failed"], j["busy_503"]))'), server CPU $(( (t1 - t0) * 1000 / $(getconf CLK_TCK) / requests )) ms/request"
  done
  /usr/bin/python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 4)
s.settimeout(3)
data = b""
try:
    while data.count(b"HTTP/1.1 200") < 4:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
print("pipelined: %d of 4 answered" % data.count(b"HTTP/1.1 200"))
PY
  kill $server
  wait $server 2>/dev/null || true
  server=
}
for round in ${ROUNDS:-1 2}; do
  echo "== other ($other), round $round"
  serve_and_measure "$other/genrenet" "$other"
  echo "== this build, round $round"
  serve_and_measure build/genrenet "$PWD/build"
done
