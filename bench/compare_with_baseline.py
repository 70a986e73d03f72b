#!/usr/bin/python3
"""genrenet against MFCC + SVM on the same folds, over every seed of a `genrenet experiments` k-fold run.

    compare_with_baseline.py DATA_DIR RUNS/EXPERIMENT      (RUNS/EXPERIMENT/seed-*/fold-*/)

For each seed (each a stratified k-fold partition) it reads genrenet's test evaluation per fold
(eval-test.json: the model its last `evaluate` or training used, named in the output; to compare another
of the run's models, `genrenet evaluate --run FOLD --model best|last` every fold first) and runs the baseline of mfcc_svm_baseline.py on the same folds, then prints a
markdown table per seed, the paired difference over all folds (mean, standard deviation, wins/ties/losses,
paired t), and the confusion matrix of genrenet's test predictions summed over every fold of every seed.
Reference tooling (Debian's python3-torchaudio, python3-sklearn); never a dependency of genrenet.
"""
import glob
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mfcc_svm_baseline import fold_accuracies  # noqa: E402


def pct(values):
    return " ".join(f"{round(100 * v)}" for v in values)


def plural(n, one, many=None):
    return f"{n} {one if n == 1 else many or one + 's'}"


def mean_std(values):
    return 100 * statistics.mean(values), 100 * (statistics.stdev(values) if len(values) > 1 else 0)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    data, experiment = sys.argv[1], sys.argv[2]
    seeds = sorted(glob.glob(os.path.join(experiment, "seed-*")), key=lambda p: int(p.rsplit("-", 1)[1]))
    if not seeds:
        print(f"no seed-* folders under {experiment}")
        return 1
    rows, all_g, all_s, confusion, classes, models = [], [], [], None, None, set()
    for seed in seeds:
        folds = sorted(glob.glob(os.path.join(seed, "fold-*")))
        if not folds or not all(os.path.exists(os.path.join(f, "eval-test.json")) for f in folds):
            print(f"{seed}: not finished (a fold has no eval-test.json); skipped", file=sys.stderr)
            continue
        evaluations = [json.load(open(os.path.join(f, "eval-test.json"))) for f in folds]
        g = [e["accuracy"] for e in evaluations]
        s = fold_accuracies(data, seed, log=lambda *_: None)
        for e in evaluations:
            models.add(e.get("model", "best"))  # evaluations before test_model existed were of the best model
            if confusion is None:
                confusion, classes = [[0] * len(e["classes"]) for _ in e["classes"]], e["classes"]
            for i, row in enumerate(e["confusion"]):
                for j, n in enumerate(row):
                    confusion[i][j] += n
        d = [a - b for a, b in zip(g, s)]
        rows.append(f"| {seed.rsplit('-', 1)[1]} | {pct(g)} | {'%.1f%% ± %.1f' % mean_std(g)} | {pct(s)} | "
              f"{'%.1f%% ± %.1f' % mean_std(s)} | {' '.join('%+d' % round(100 * x) for x in d)} |")
        all_g += g
        all_s += s
    if not all_g:
        return 1
    print(f"| seed | genrenet ({' and '.join(sorted(models))} model), per fold | mean ± std | MFCC + SVM, per fold | "
          "mean ± std | genrenet − SVM per fold |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    d = [a - b for a, b in zip(all_g, all_s)]
    m, sd = statistics.mean(d), statistics.stdev(d) if len(d) > 1 else 0
    t = m / (sd / math.sqrt(len(d))) if sd > 0 else float("inf")
    wins, ties = sum(x > 1e-9 for x in d), sum(abs(x) <= 1e-9 for x in d)
    print(f"| all {len(d)} folds | | **{'%.1f%% ± %.1f' % mean_std(all_g)}** | | **{'%.1f%% ± %.1f' % mean_std(all_s)}** | "
          f"**{100 * m:+.1f} ± {100 * sd:.1f}** ({plural(wins, 'win')}, {plural(ties, 'tie')}, "
          f"{plural(len(d) - wins - ties, 'loss', 'losses')}; "
          f"paired t = {t:.2f}) |")
    print(f"\nConfusion matrix of genrenet's test predictions, all folds of all seeds summed "
          f"({sum(map(sum, confusion))} predictions; rows: the true genre, columns: the predicted one):\n")
    print("| true \\ predicted | " + " | ".join(classes) + " |")
    print("|---|" + "---|" * len(classes))
    for name, row in zip(classes, confusion):
        print(f"| {name} | " + " | ".join(str(n) if n else "·" for n in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
