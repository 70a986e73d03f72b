#!/usr/bin/env python3
"""Writes the torchaudio 0.13 reference outputs that tests/test_parity_torchaudio.cpp compares against.

Run with Debian's python3-torchaudio (/usr/bin/python3). Usage: make_parity_fixtures.py OUT_DIR
The input is a deterministic 16 kHz signal (a chirp, a few harmonics, a click train and noise) of an odd
length, so that the last frame and the reflect padding are exercised. For each mel configuration it writes
<name>_mel.npy (MelSpectrogram, power 2) and <name>_db.npy (AmplitudeToDB on it).
"""
import json, os, sys

import numpy as np
import torch
import torchaudio


def signal(n, sr):
    t = np.arange(n) / sr
    rng = np.random.default_rng(1234)
    chirp = 0.3 * np.sin(2 * np.pi * (50 * t + 0.5 * (7500 - 50) / t[-1] * t ** 2))
    tones = sum(0.05 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 8))
    clicks = np.zeros(n)
    clicks[:: sr // 4] = 0.8
    x = chirp + tones + clicks + 0.01 * rng.standard_normal(n)
    x[: sr // 2] *= np.linspace(0, 1, sr // 2)  # a quiet start: low dB values are exercised too
    return x.astype(np.float32)


CONFIGS = {
    "htk_none": dict(mel_scale="htk", norm=None, top_db=None),
    "htk_slaney": dict(mel_scale="htk", norm="slaney", top_db=None),
    "slaney_none": dict(mel_scale="slaney", norm=None, top_db=None),
    "slaney_slaney": dict(mel_scale="slaney", norm="slaney", top_db=None),
    "htk_none_topdb80": dict(mel_scale="htk", norm=None, top_db=80.0),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    sr = 16000
    x = signal(5 * sr + 321, sr)
    np.save(os.path.join(out, "input.npy"), x)
    wav = torch.from_numpy(x)
    for name, c in CONFIGS.items():
        mel = torchaudio.transforms.MelSpectrogram(sr, n_fft=2048, hop_length=512, n_mels=128,
                                                   mel_scale=c["mel_scale"], norm=c["norm"])(wav)
        db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=c["top_db"])(mel)
        np.save(os.path.join(out, name + "_mel.npy"), np.ascontiguousarray(mel.numpy(), dtype=np.float32))
        np.save(os.path.join(out, name + "_db.npy"), np.ascontiguousarray(db.numpy(), dtype=np.float32))
    with open(os.path.join(out, "configs.json"), "w") as f:
        json.dump(CONFIGS, f)
    print("torchaudio %s fixtures written to %s" % (torchaudio.__version__, out))


if __name__ == "__main__":
    main()
