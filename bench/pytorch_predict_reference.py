#!/usr/bin/python3
"""PyTorch's end-to-end prediction over audio files, the reference for `genrenet predict` (bench/run_predict.sh).

    pytorch_predict_reference.py MODEL.safetensors LIST.txt [--threads N] [--batch 16] [--precision bf16|fp32]
                                 [--csv OUT.csv]

The same work as `genrenet predict -m MODEL @LIST.txt`, with the PyTorch equivalents: torchaudio decodes,
mixes to mono, resamples to 16 kHz and computes the log-mel (n_fft 2048, hop 512, 128 HTK mels, dB); the
clip is cut into model-input windows as genrenet does (every input length, the last one aligned to the
end; a shorter clip is one zero-padded input), each window standardised; torchvision's ResNet-18 with the
genrenet model's weights (read from the safetensors file) runs them with channels_last, in bf16 autocast
(--precision fp32 where the CPU has no native bf16: emulated, it takes minutes),
--batch windows at a time; a clip's probabilities are its windows' mean. Prints one JSON line with the
time and clips per second; --csv writes each file's top genre, for agreement with genrenet's.
Reference tooling (Debian's python3-torch, -torchaudio, -torchvision); never a dependency of genrenet.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torchaudio
import torchvision

DTYPES = {"F32": np.float32, "I64": np.int64}


def read_model(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(body[a:b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"]).copy())
    return tensors, json.loads(meta["features"]), json.loads(meta["model"]), json.loads(meta["classes"])


def windows(log_mel, frames):
    n = log_mel.shape[-1]
    if n <= frames:
        x = (log_mel - log_mel.mean()) / (log_mel.std() + 1e-6)
        return [torch.nn.functional.pad(x, (0, frames - n))]
    starts = list(range(0, n - frames, frames))
    if not starts or starts[-1] != n - frames:
        starts.append(n - frames)
    out = []
    for s in starts:
        w = log_mel[:, s:s + frames]
        out.append((w - w.mean()) / (w.std() + 1e-6))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("list")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--csv")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    weights, feats, arch, classes = read_model(a.model)
    if arch["arch"] != "resnet18":
        sys.exit(f"{a.model}: this reference runs resnet18 only, not {arch['arch']}")
    model = torchvision.models.resnet18(num_classes=arch["num_classes"])
    model.load_state_dict(weights)
    model.eval()
    model = model.to(memory_format=torch.channels_last)
    mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=feats["n_fft"], hop_length=feats["hop_length"],
                                               n_mels=feats["n_mels"])
    to_db = torchaudio.transforms.AmplitudeToDB(top_db=feats.get("top_db"))
    resamplers = {}
    files = [line.strip() for line in open(a.list) if line.strip()]
    top = []
    t0 = time.perf_counter()
    pending, owners, probs = [], [], [[] for _ in files]

    def flush():
        if not pending:
            return
        x = torch.stack(pending).unsqueeze(1).expand(-1, arch["input_channels"], -1, -1)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            p = torch.softmax(model(x).float(), 1)
        for i, k in enumerate(owners):
            probs[k].append(p[i])
        pending.clear()
        owners.clear()

    for k, path in enumerate(files):
        wav, sr = torchaudio.load(path)
        wav = wav.mean(0, keepdim=True)
        if sr != 16000:
            if sr not in resamplers:
                resamplers[sr] = torchaudio.transforms.Resample(sr, 16000)
            wav = resamplers[sr](wav)
        for w in windows(to_db(mel(wav))[0], feats["frames"]):
            pending.append(w)
            owners.append(k)
            if len(pending) == a.batch:
                flush()
    flush()
    for p in probs:
        top.append(classes[int(torch.stack(p).mean(0).argmax())])
    dt = time.perf_counter() - t0
    print(json.dumps({"bench": "predict", "impl": "pytorch", "torch": torch.__version__, "precision": a.precision,
                      "threads": a.threads, "clips": len(files),
                      "seconds_files": round(dt, 3), "clips_per_s_files": round(len(files) / dt, 2),
                      "seconds_with_model_load": round(time.perf_counter() - t_start, 3)}), flush=True)
    if a.csv:
        with open(a.csv, "w") as f:
            for path, genre in zip(files, top):
                f.write(f"{path},{genre}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
