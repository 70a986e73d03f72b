#!/usr/bin/env bash
# The frozen trunk's accuracy cost (issue 27): the paper's best configuration (ResNet-18, the first 8 top-level
# modules frozen, SpecAugment, whole clips padded to 128x1024, batch 16) trained with its frozen trunk in each
# precision on the same 5-fold partition, and each fold's test accuracy compared with the fp32 trunk's (which
# trains exactly as the training network does). No ImageNet weights here: the frozen trunk is a random
# network, so only fc learns, and accuracies are low; the comparison is between precisions on the same folds.
# Adam at 1e-3 (1e-4 barely moves a lone fc in 20 epochs).
#   bench/trunk_kfold.sh [DATA_DIR] [WORK_DIR] [PRECISIONS]   (default: ../shared/data/gtzan-sample, a temporary
#                                                              folder, "fp32 int8")
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/gtzan-sample}
[ -d "$data" ] || { echo "skip: no dataset at $data"; exit 0; }
work=${2:-$(mktemp -d)}
mkdir -p "$work"
[ -n "${2:-}" ] || trap 'rm -rf "$work"' EXIT
precisions=${3:-fp32 int8}
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); $(build/genrenet --version | head -1)"
for p in $precisions; do
  [ -f "$work/$p/kfold.json" ] || build/genrenet train --data "$data" --split kfold:5 --seed 1 --out "$work/$p" \
    --cache "$work/cache" --freeze-children 8 --specaugment --epochs 20 --batch 16 --lr 1e-3 --trunk-precision "$p" \
    > "$work/$p.log" 2>&1 || { tail -20 "$work/$p.log"; exit 1; }
done
# Each fold's test accuracy: as trained and evaluated (the run's own inference precision: an int8 trunk's model
# is calibrated, so auto may choose int8), and with every model evaluated in fp32.
/usr/bin/python3 - "$work" $precisions <<'PY'
import glob, json, os, shutil, subprocess, sys
work, precisions = sys.argv[1], sys.argv[2:]
rows = {}
for p in precisions:
    folds = sorted(glob.glob(os.path.join(work, p, "fold-*")))
    # `evaluate` rewrites eval-test.json: the training run's own evaluation is kept aside first, so that a
    # second run of this script reads the same thing.
    for f in folds:
        kept = os.path.join(f, "eval-as-trained.json")
        if not os.path.exists(kept):
            shutil.copyfile(os.path.join(f, "eval-test.json"), kept)
    own = [json.load(open(os.path.join(f, "eval-as-trained.json"))) for f in folds]
    fp32 = [json.loads(subprocess.run(["build/genrenet", "evaluate", "--run", f, "--precision", "fp32", "--json"],
                                      capture_output=True, text=True, check=True).stdout) for f in folds]
    rows[p] = ([100 * e["accuracy"] for e in own], [e.get("inference_precision", "?") for e in own],
               [100 * e["accuracy"] for e in fp32])
print("| trunk | test accuracy per fold (its own inference) | mean | evaluated in fp32, per fold | mean |")
print("|---|---|---|---|---|")
mean = lambda v: sum(v) / len(v)
for p, (acc, how, acc32) in rows.items():
    print(f"| {p} | {' '.join(f'{a:.0f}' for a in acc)} ({', '.join(sorted(set(how)))}) | {mean(acc):.1f}% | "
          f"{' '.join(f'{a:.0f}' for a in acc32)} | {mean(acc32):.1f}% |")
# The reference is the first precision's (fp32's) models evaluated in fp32: its own inference is whatever `auto`
# measured fastest on this CPU (bf16 where it is native), which is another computation.
base = precisions[0]
reference = mean(rows[base][2])
for p in precisions[1:]:
    d = mean(rows[p][0]) - reference
    print(f"{p} trunk (its own inference) against the {base} trunk evaluated in fp32: {d:+.1f} points "
          f"(the issue's bound: within 1 point)")
PY
