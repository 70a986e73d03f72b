#!/usr/bin/python3
"""How often a clip's nearest neighbours share its genre: genrenet's embeddings against MFCC statistics.

    neighbour_genres.py INDEX_OR_STORE_DIR DATA_DIR [SPLIT_JSON]

Leave-one-out over the clips of an embedding store (`genrenet embed` / `genrenet index build`): for each
clip, its 5 nearest other clips by cosine similarity, and the share of them in the clip's genre (the genre
is the clip's folder). The same with MFCC statistics (20 MFCCs and deltas, mean and standard deviation over
time, standardised; bench/mfcc_svm_baseline.py's features) as the embedding. With SPLIT_JSON (a run's
split.json), only that split's test clips are queries (the model never trained on them; their neighbours
are still searched among all clips). Reference tools only (Debian's python3-torchaudio, python3-sklearn, numpy).
"""
import json
import os
import sys

import numpy as np
import torchaudio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mfcc_svm_baseline import features  # noqa: E402

K = 5


def agreement(vectors, genres, queries):
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sim = v @ v.T
    shares = []
    for i in queries:
        s = sim[i].copy()
        s[i] = -np.inf
        nearest = np.argsort(-s)[:K]
        shares.append(np.mean([genres[j] == genres[i] for j in nearest]))
    return float(np.mean(shares))


def main():
    store, data = sys.argv[1], sys.argv[2]
    if not os.path.isdir(data) or not os.path.exists(os.path.join(store, "embeddings.npy")):
        print(f"SKIP: {data} or {store}/embeddings.npy is not here")
        return 0
    emb = np.load(os.path.join(store, "embeddings.npy"))
    rows = [json.loads(line) for line in open(os.path.join(store, "embeddings.jsonl")) if line.strip()]
    files = [r["file"] for r in rows]
    genres = [os.path.basename(os.path.dirname(f)) for f in files]
    queries = list(range(len(files)))
    if len(sys.argv) > 3:
        test = set(json.load(open(sys.argv[3]))["test"])
        queries = [i for i, f in enumerate(files)
                   if f"{genres[i]}/{os.path.basename(f).rsplit('.', 1)[0]}" in test]
    mfcc = torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=20,
                                      melkwargs={"n_fft": 2048, "hop_length": 512, "n_mels": 128})
    m = np.stack([features(f, mfcc) for f in files])
    m = (m - m.mean(0)) / np.maximum(m.std(0), 1e-12)
    print(f"{len(queries)} queries among {len(files)} clips, {K} nearest neighbours each:")
    print(f"  genrenet embeddings: {100 * agreement(emb[:len(files)], genres, queries):.1f}% share the query's genre")
    print(f"  MFCC statistics:     {100 * agreement(m, genres, queries):.1f}%")
    print(f"  chance (same genre among the others): {100 * (np.mean([genres.count(genres[i]) - 1 for i in queries]) / (len(files) - 1)):.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
