#!/usr/bin/env bash
# Int8 against fp32 on k-fold runs: each fold's tested model is calibrated for int8 on that fold's own
# training clips (genrenet quantize, in place: the model file gains its calibration), then its test fold is
# evaluated in fp32 and in int8; and, for the first fold's model, the top genre of every window of every clip
# of the dataset is compared between fp32 and int8.
#   bench/int8_kfold.sh K_FOLD_RUN_DIR DATA_DIR [CLIPS]
# K_FOLD_RUN_DIR holds fold-1, fold-2, ... (`genrenet train --split kfold:K` or `genrenet experiments`).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=$1 data=$2 clips=${3:-32}
if [ ! -d "$data" ]; then echo "skip: no dataset at $data"; exit 0; fi
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '| fold | model | test clips | fp32 accuracy | int8 accuracy |\n|---|---|---|---|---|\n'
first=""
for fold in "$runs"/fold-*; do
  model=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['test_model'])" "$fold/config.json")
  /usr/bin/python3 - "$fold/split.json" "$data" > "$work/train.txt" <<'PY'
import glob, json, os, sys
split, data = json.load(open(sys.argv[1])), sys.argv[2]
for clip_id in split["train"]:
    found = glob.glob(os.path.join(data, clip_id + ".*"))
    if found: print(found[0])
PY
  build/genrenet quantize -m "$fold/$model.safetensors" --data "@$work/train.txt" --clips "$clips" > /dev/null
  fp32=$(build/genrenet evaluate --run "$fold" --precision fp32 --json | /usr/bin/python3 -c "import json,sys; e=json.load(sys.stdin); print(e['accuracy'], e['count'])")
  int8=$(build/genrenet evaluate --run "$fold" --precision int8 --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['accuracy'])")
  printf '| %s | %s | %s | %.1f%% | %.1f%% |\n' "$(basename "$fold")" "$model" "${fp32#* }" \
    "$(awk -v a="${fp32% *}" 'BEGIN { print 100 * a }')" "$(awk -v a="$int8" 'BEGIN { print 100 * a }')"
  [ -n "$first" ] || first="$fold/$model.safetensors"
done
# Every window of every clip, one model: fp32 and int8 top genres.
for p in fp32 int8; do
  build/genrenet predict -m "$first" "$data" --per-window --format jsonl --precision "$p" > "$work/$p.jsonl"
done
/usr/bin/python3 - "$work/fp32.jsonl" "$work/int8.jsonl" <<'PY'
import json, sys
def windows(path):
    out = {}
    for line in open(path):
        r = json.loads(line)
        for i, w in enumerate(r.get("per_window", [])):
            out[(r["file"], i)] = w["top"][0]["genre"]
    return out
a, b = windows(sys.argv[1]), windows(sys.argv[2])
same = sum(1 for k in a if b.get(k) == a[k])
print(f"every window of every clip ({len(a)} windows): int8 gives fp32's top genre on {same} ({100 * same / len(a):.1f}%)")
PY
