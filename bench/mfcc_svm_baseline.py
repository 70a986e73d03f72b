#!/usr/bin/python3
"""The classic baseline on genrenet's own folds: MFCC statistics with an SVM.

For each fold folder of a genrenet k-fold run (its split.json lists the train/valid/test clip ids), this
trains an RBF SVM on the mean and standard deviation over time of 20 MFCCs (+ their deltas) of the training
and validation clips and tests it on the fold's test clips: the same clips genrenet is tested on.
Reference tools only (Debian's python3-torchaudio and python3-sklearn); never a dependency of genrenet.

    mfcc_svm_baseline.py DATA_DIR RUN_DIR/seed-1       (RUN_DIR/seed-1/fold-*/split.json)
"""
import glob
import json
import os
import sys

import numpy as np
import torch
import torchaudio
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def features(path, mfcc):
    wave, rate = torchaudio.load(path)
    wave = torchaudio.functional.resample(wave.mean(0, keepdim=True), rate, 16000)
    m = mfcc(wave)[0]                      # [20, frames]
    d = torchaudio.functional.compute_deltas(m)
    return torch.cat([m.mean(1), m.std(1), d.mean(1), d.std(1)]).numpy()


def fold_accuracies(data, run, log=print):
    """Test accuracy of the baseline on each fold-*/split.json under run, in fold order."""
    folds = sorted(glob.glob(os.path.join(run, "fold-*", "split.json")))
    if not folds:
        raise SystemExit(f"no fold-*/split.json under {run}")
    files = {}
    for p in glob.glob(os.path.join(data, "**", "*.*"), recursive=True):
        if p.endswith((".wav", ".au", ".flac", ".ogg", ".mp3")):
            files[os.path.splitext(os.path.basename(p))[0]] = p
    mfcc = torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=20,
                                      melkwargs={"n_fft": 2048, "hop_length": 512, "n_mels": 128})
    cache = {}

    def xy(ids):
        x, y = [], []
        for i in ids:
            stem = os.path.basename(i)  # ids are class/stem, without the extension
            if stem not in cache:
                cache[stem] = features(files[stem], mfcc)
            x.append(cache[stem])
            y.append(stem.split(".")[0])
        return np.stack(x), np.array(y)

    accuracies = []
    for f in folds:
        split = json.load(open(f))
        xtr, ytr = xy(split["train"] + split["valid"])
        xte, yte = xy(split["test"])
        clf = make_pipeline(StandardScaler(), SVC(C=10, gamma="scale"))
        clf.fit(xtr, ytr)
        acc = float((clf.predict(xte) == yte).mean())
        accuracies.append(acc)
        log(f"{os.path.basename(os.path.dirname(f))}: {len(yte)} test clips, accuracy {acc:.4f}")
    return accuracies


def main():
    a = np.array(fold_accuracies(sys.argv[1], sys.argv[2]))
    print(f"MFCC+SVM {len(a)}-fold test accuracy: {a.mean():.4f} +- {a.std(ddof=1) if len(a) > 1 else 0:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
