#!/usr/bin/python3
"""Calibration of k-fold runs on their test folds: ECE (15 bins) and NLL before and after, accuracy both ways.

  /usr/bin/python3 bench/calibration_table.py build/genrenet RUNS/RECIPE/seed-1 [--recalibrate]

For every fold-* run folder: `genrenet calibrate` when its model files hold no calibration yet (or with
--recalibrate), then `genrenet evaluate --json` with and without the calibration on the test fold. Prints a
markdown table (one row per fold and their mean) and writes nothing else than what those commands write
(reliability-test.png beside each run). Skips (exit 0) when the folder is absent.
"""
import json
import os
import subprocess
import sys


def run(*args):
    out = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stdout}{out.stderr}")
    return out.stdout


def calibrated(model):
    """Whether a model file's safetensors metadata holds a confidence calibration."""
    with open(model, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    return "calibration" in header.get("__metadata__", {})


def pool(into, report, count):
    """Adds one fold's reliability bins and NLL to the pooled sums (bins keyed by their lower edge)."""
    into["n"] = into.get("n", 0) + count
    into["nll"] = into.get("nll", 0.0) + report["nll"] * count
    for b in report["bins"]:
        s = into.setdefault(round(b["lower"], 6), [0, 0.0, 0.0])
        s[0] += b["count"]
        s[1] += b["count"] * b["confidence"]
        s[2] += b["count"] * b["accuracy"]


def pooled_ece(sums):
    n = sums["n"]
    bins = [v for key, v in sums.items() if key not in ("n", "nll")]
    return sum(abs(acc - conf) for _, conf, acc in bins) / n


def main():
    exe, root = sys.argv[1], sys.argv[2]
    again = "--recalibrate" in sys.argv[3:]
    if not os.path.isdir(root):
        print(f"SKIP: {root} is not here")
        return 0
    rows, pooled = [], {}
    for fold in sorted(d for d in os.listdir(root) if d.startswith("fold-")):
        folder = os.path.join(root, fold)
        config = json.load(open(os.path.join(folder, "config.json")))
        if again or not calibrated(os.path.join(folder, config["test_model"] + ".safetensors")):
            run(exe, "calibrate", folder)
        after = json.loads(run(exe, "evaluate", "--run", folder, "--precision", "fp32", "--json"))
        before = json.loads(run(exe, "evaluate", "--run", folder, "--precision", "fp32", "--json", "--no-calibration"))
        c = after["calibration"]
        for key, report in (("before", c["uncalibrated"]), ("after", c["calibrated"])):
            pool(pooled.setdefault(key, {}), report, after["count"])
        rows.append((fold, after["count"], c["temperature"], before["accuracy"], after["accuracy"],
                     c["uncalibrated"]["ece"], c["calibrated"]["ece"], c["uncalibrated"]["nll"], c["calibrated"]["nll"]))
    print("| fold | test clips | temperature | accuracy before | accuracy after | ECE before | ECE after | NLL before | NLL after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {100 * r[3]:.1f}% | {100 * r[4]:.1f}% | {r[5]:.3f} | {r[6]:.3f} | "
              f"{r[7]:.3f} | {r[8]:.3f} |")
    n = len(rows)
    mean = [sum(r[i] for r in rows) / n for i in range(2, 9)]
    print(f"| mean | {sum(r[1] for r in rows)} | {mean[0]:.3f} | {100 * mean[1]:.1f}% | {100 * mean[2]:.1f}% | "
          f"{mean[3]:.3f} | {mean[4]:.3f} | {mean[5]:.3f} | {mean[6]:.3f} |")
    print("\nAll folds' test clips pooled (%d): ECE %.3f -> %.3f, NLL %.3f -> %.3f" % (
        pooled["before"]["n"], pooled_ece(pooled["before"]), pooled_ece(pooled["after"]),
        pooled["before"]["nll"] / pooled["before"]["n"], pooled["after"]["nll"] / pooled["after"]["n"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
