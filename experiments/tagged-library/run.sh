#!/bin/sh
# The experiment of docs/RESULTS.md "Learning a library's own genres": the 100 gtzan-sample clips copied
# into a library as people have them (tests/make_tagged_library.cpp: FLAC, MP3, Ogg, WAV; albums of two
# clips, the genre spelt per album, some with two genres, 30% untagged), recipe C trained on its tags with an album-disjoint split
# (three seeds), then `genrenet tag --only-untagged` fills the untagged copies: accuracy against their true
# genre, and the share left "unknown".
#
#   experiments/tagged-library/run.sh [BUILD_DIR] [OUT_DIR]      (about 15 minutes on the 2-core VM)
set -eu
build=${1:-build}
out=${2:-runs/tagged-library}
src=../shared/data/gtzan-sample
here=$(dirname "$0")
if [ ! -d "$src" ]; then echo "skipped: $src is not here"; exit 0; fi
grep -m1 'model name' /proc/cpuinfo
rm -rf "$out/library"
"$build/tests/make_tagged_library" "$src" "$out/library" 2  # albums of two clips: five a genre
for seed in 1 2 3; do
  if [ -f "$out/seed-$seed/eval-test.json" ]; then continue; fi
  "$build/genrenet" train --config "$here/recipe-c-from-tags.toml" --from-tags "$out/library" \
    --genre-map "$out/library/genres.toml" --seed "$seed" --out "$out/seed-$seed" --overwrite | tail -n 3
done
# The folder-trained model beside it: the same validation and test clips (the originals of the copies), and
# every other clip to train on — the 30% without a tag included, since their folder names their genre.
for seed in 1 2 3; do
  if [ -f "$out/folders-$seed/eval-test.json" ]; then continue; fi
  /usr/bin/python3 - "$out/seed-$seed/split.json" "$src" "$out/folders-$seed-lists" <<'PY'
import json, os, sys
split, src, lists = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
# A list names a clip by a file name ("blues.00000.flac": its stem is the clip's id's last part).
stem = lambda p: os.path.splitext(os.path.basename(p))[0].split(" ", 1)[1] + ".flac"  # "1 blues.00000.mp3" -> blues.00000.flac
held = {name: [stem(p) for p in split[name]] for name in ("valid", "test")}
every = sorted(f for g in os.listdir(src) if os.path.isdir(os.path.join(src, g)) for f in os.listdir(os.path.join(src, g)))
held["train"] = [c for c in every if c not in held["valid"] and c not in held["test"]]
os.makedirs(lists, exist_ok=True)
for name, ids in held.items():
    open(os.path.join(lists, name + ".txt"), "w").write("\n".join(ids) + "\n")
PY
  l="$out/folders-$seed-lists"
  "$build/genrenet" train --config "$here/recipe-c-from-tags.toml" --data "$src" --split "lists:$l/train.txt,$l/valid.txt,$l/test.txt" \
    --seed "$seed" --out "$out/folders-$seed" --overwrite | tail -n 3
done
"$build/genrenet" tag "$out/library" --model "$out/seed-1/last.safetensors" --only-untagged --reject-ood \
  --report jsonl > "$out/tag.jsonl"
/usr/bin/python3 - "$out" <<'PY'
import csv, json, os, sys
out = sys.argv[1]
for name, label in (("seed", "trained on the tags"), ("folders", "trained on the folders")):
    evals = [json.load(open(os.path.join(out, "%s-%d" % (name, s), "eval-test.json"))) for s in (1, 2, 3)]
    print("album-disjoint test accuracy, %s, per seed: %s (clips: %s); mean %.1f%%" % (
        label, " ".join("%.1f%%" % (100 * e["accuracy"]) for e in evals), " ".join(str(e["count"]) for e in evals),
        100 * sum(e["accuracy"] for e in evals) / 3))
lib = os.path.join(out, "library")
truth = {os.path.normpath(os.path.join(lib, r["file"])): r for r in csv.DictReader(open(os.path.join(lib, "truth.csv")))}
right = wrong = unknown = kept = 0
for line in open(os.path.join(out, "tag.jsonl")):
    o = json.loads(line)
    t = truth[os.path.normpath(o["file"])]
    if "--only-untagged keeps it" in o["message"]:
        kept += 1
    elif o["status"] == "left alone":
        unknown += 1
    else:
        right += o["genre"] == t["genre"]
        wrong += o["genre"] != t["genre"]
filled = right + wrong
print("tag --only-untagged: %d tagged files kept; of %d untagged, %d answered (%.1f%% right), %d unknown (%.1f%%)" % (
    kept, filled + unknown, filled, 100 * right / max(filled, 1), unknown, 100 * unknown / max(filled + unknown, 1)))
PY
