#!/usr/bin/python3
"""How often genrenet answers "unknown" for audio it was not trained on, and for audio it was.

Trains recipe C (experiments/gtzan-sample) by 5-fold cross-validation on 8 of gtzan-sample's 10 genres
(the last two, reggae and rock, held out), so that each fold's model is calibrated on its validation clips
(temperature and energy threshold at 95%). Then every fold's model answers:
  - its own test clips (in-genre: every rejection is a wrong one),
  - the 20 clips of the held-out genres,
  - synthetic speech (espeak-ng, 10 voices; skipped when espeak-ng is not installed),
  - noise (white, pink, brown at three levels) and silence (digital silence, a -60 dB hiss),
and the share called "unknown" is counted for each rule: the out-of-distribution energy threshold
(--reject-ood), a confidence floor (--min-confidence P, calibrated probabilities), and either.

  /usr/bin/python3 bench/unknown_rates.py build/genrenet ../shared/data/gtzan-sample WORK_DIR

Skips (exit 0) when the dataset is absent. Rerunning continues the training where it stopped.
"""
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import wave

HELD_OUT = ["reggae", "rock"]
RATE = 22050


def write_wav(path, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", max(-32767, min(32767, int(s * 32767)))) for s in samples))


def noise(kind, level, seconds, seed):
    rng = random.Random(seed)
    n = int(seconds * RATE)
    white = [rng.gauss(0, 1) for _ in range(n)]
    if kind == "white":
        x = white
    elif kind == "brown":  # integrated white noise, leaky so that it stays bounded
        x, acc = [], 0.0
        for v in white:
            acc = 0.999 * acc + v
            x.append(acc)
    else:  # pink: Paul Kellet's economy filter
        b0 = b1 = b2 = 0.0
        x = []
        for v in white:
            b0 = 0.99765 * b0 + v * 0.0990460
            b1 = 0.96300 * b1 + v * 0.2965164
            b2 = 0.57000 * b2 + v * 1.0526913
            x.append(b0 + b1 + b2 + v * 0.1848)
    peak = max(abs(v) for v in x) or 1.0
    return [level * v / peak for v in x]


def make_inputs(work, data):
    """The training data (8 genres, links to the clips), and the audio of every kind the models never saw."""
    groups = {}
    train = os.path.join(work, "data")
    for genre in sorted(os.listdir(data)):
        src = os.path.join(data, genre)
        if not os.path.isdir(src):
            continue
        if genre in HELD_OUT:
            groups.setdefault("held-out genres (reggae, rock)", []).extend(
                os.path.join(src, f) for f in sorted(os.listdir(src)))
            continue
        os.makedirs(os.path.join(train, genre), exist_ok=True)
        for f in sorted(os.listdir(src)):
            link = os.path.join(train, genre, f)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(os.path.join(src, f)), link)
    made = os.path.join(work, "inputs")
    os.makedirs(made, exist_ok=True)
    if shutil.which("espeak-ng"):
        text = ("The quick brown fox jumps over the lazy dog. A genre classifier hears music, but this is a voice "
                "reading a text aloud, sentence after sentence, with pauses between the words. Numbers follow: one, "
                "two, three, four, five, six, seven, eight, nine, ten. Tomorrow will be cloudy with rain. ") * 2
        speech = []
        for i, voice in enumerate(["en", "en-us", "en-gb-x-rp", "de", "fr", "es", "it", "pt", "nl", "pl"]):
            path = os.path.join(made, f"speech-{voice}.wav")
            if not os.path.exists(path):
                subprocess.run(["espeak-ng", "-v", voice, "-s", str(130 + 8 * i), "-w", path, text], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            speech.append(path)
        groups["synthetic speech (espeak-ng)"] = speech
    noises = []
    for i, kind in enumerate(["white", "pink", "brown"]):
        for j, level in enumerate([0.05, 0.3, 0.9]):
            path = os.path.join(made, f"noise-{kind}-{level}.wav")
            if not os.path.exists(path):
                write_wav(path, noise(kind, level, 30, 10 * i + j))
            noises.append(path)
    groups["noise (white, pink, brown x 3 levels)"] = noises
    silence = os.path.join(made, "silence-30s.wav")
    hiss = os.path.join(made, "hiss-60dB.wav")
    if not os.path.exists(silence):
        write_wav(silence, [0.0] * (30 * RATE))
    if not os.path.exists(hiss):
        write_wav(hiss, noise("white", 0.001, 30, 99))
    groups["silence (digital; -60 dB hiss)"] = [silence, hiss]
    return train, groups


def clip_path(root, clip_id):
    """A split's clip id ("blues/blues.00009") as the file it names, whatever its extension."""
    folder, stem = os.path.split(os.path.join(root, clip_id))
    return os.path.join(folder, next(f for f in sorted(os.listdir(folder)) if f.startswith(stem + ".")))


def predict(exe, model, files, window, hop):
    out = subprocess.run([exe, "predict", "--model", model, "--format", "jsonl", "--precision", "fp32",
                          "--window", str(window), "--hop", str(hop), *files],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return {r["file"]: r for r in rows}


def main():
    exe, data, work = sys.argv[1], sys.argv[2], sys.argv[3]
    floors = [float(p) for p in (sys.argv[4].split(",") if len(sys.argv) > 4 else ["0.4", "0.6"])]
    if not os.path.isdir(data):
        print(f"SKIP: {data} is not here (the gtzan-sample clips)")
        return 0
    os.makedirs(work, exist_ok=True)
    train, groups = make_inputs(work, data)
    runs = os.path.join(work, "runs")
    recipe = "c-random-crops-tta-last-epoch"
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([exe, "experiments", os.path.join(here, "..", "experiments", "gtzan-sample"), "--data", train,
                    "--out", runs, "--only", recipe, "--seeds", "1"], check=True)
    seed = os.path.join(runs, recipe, "seed-1")
    counts = {}  # group -> rule -> [unknown, total]
    thresholds = []
    for fold in sorted(d for d in os.listdir(seed) if d.startswith("fold-")):
        run = os.path.join(seed, fold)
        config = json.load(open(os.path.join(run, "config.json")))
        split = json.load(open(os.path.join(run, "split.json")))
        frames, hop_length, rate = (config["features"][k] for k in ("frames", "hop_length", "sample_rate"))
        window = frames * hop_length / rate  # the model input, as evaluate cuts it
        test = [clip_path(train, i) for i in split["test"]]
        model = os.path.join(run, config["test_model"] + ".safetensors")
        fold_groups = {"in-genre test clips (should be kept)": test, **groups}
        every = [f for files in fold_groups.values() for f in files]
        rows = predict(exe, model, every, round(window, 3), round(window / 2, 3))
        any_row = next(iter(rows.values()))
        thresholds.append((any_row.get("energy_threshold"), any_row.get("temperature")))
        for name, files in fold_groups.items():
            for f in files:
                r = rows.get(f)
                if r is None or "error" in r:
                    continue
                top = r["ranked"][0]["probability"]
                verdicts = {"energy > threshold (--reject-ood)": r["out_of_distribution"]}
                for p in floors:
                    verdicts[f"confidence < {p}"] = top < p
                    verdicts[f"either (ood or < {p})"] = r["out_of_distribution"] or top < p
                for rule, unknown in verdicts.items():
                    c = counts.setdefault(name, {}).setdefault(rule, [0, 0])
                    c[0] += unknown
                    c[1] += 1
    rules = list(next(iter(counts.values())).keys())
    print("| audio | clips x folds | " + " | ".join(rules) + " |")
    print("|---|---|" + "---|" * len(rules))
    for name, by_rule in counts.items():
        total = next(iter(by_rule.values()))[1]
        cells = [f"{100 * u / t:.0f}% ({u})" for u, t in (by_rule[r] for r in rules)]
        print(f"| {name} | {total} | " + " | ".join(cells) + " |")
    print("\nper fold (energy threshold, temperature): " +
          ", ".join(f"({e:.2f}, {t:.2f})" for e, t in thresholds if e is not None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
