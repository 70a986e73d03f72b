#!/usr/bin/env python3
"""The PyTorch reference (../shared/reference/pytorch_baseline.py) restricted to chosen modes, so that a mode
known to be hopeless on a CPU (bf16 where the CPU has no native bf16: a minute a step) can be left out.
Uses the reference's own model, input, torch.compile and int8 functions; prints its JSON lines.

  pytorch_modes.py train|infer [--frozen N] [--modes fp32,compile_fp32,bf16_cl,compile_bf16_cl] [--int8] [--pt2e] [--steps S]
"""
import argparse, importlib.util, os, statistics, sys, time

import torch

spec = importlib.util.spec_from_file_location(
    "pytorch_baseline", os.environ.get("GENRENET_REFERENCE", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "reference", "pytorch_baseline.py")))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)


def timed(step, steps, warm):
    times = []
    for i in range(steps + warm):
        t = time.perf_counter()
        step()
        if i >= warm:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("what", choices=["train", "infer"])
    ap.add_argument("--frozen", type=int, default=0)
    ap.add_argument("--modes", default="fp32,compile_fp32")
    ap.add_argument("--int8", action="store_true")
    ap.add_argument("--pt2e", action="store_true")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.what == "infer" and a.int8:
        ref.infer_int8(a.threads, a.batch, a.steps)
    if a.what == "infer" and a.pt2e:
        ref.infer_int8_pt2e(a.threads, a.batch, a.steps)
    for mode in a.modes.split(","):
        m, x, y, ac = ref.model_and_input(mode.replace("compile_", ""), a.batch)
        net = m
        if mode.startswith("compile_"):
            net = ref.compiled(m)
            if net is None:
                ref.emit(bench=a.what, impl="pytorch", mode=mode, error="this PyTorch has no torch.compile")
                continue
        warm = 3 if mode.startswith("compile_") else 2
        if a.what == "train":
            m.train()
            for child in list(m.children())[:a.frozen]:
                child.eval()
                for p in child.parameters():
                    p.requires_grad_(False)
            opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-4)

            def step():
                opt.zero_grad()
                with ac:
                    loss = torch.nn.functional.cross_entropy(net(x), y)
                loss.backward()
                opt.step()
            s = timed(step, a.steps, warm)
            ref.emit(bench="train_step", impl="pytorch", mode=mode, frozen_children=a.frozen, threads=a.threads,
                     batch=a.batch, clips_per_s=round(a.batch / s, 2))
        else:
            m.eval()
            with torch.no_grad(), ac:
                s = timed(lambda: net(x), a.steps, warm)
            ref.emit(bench="infer", impl="pytorch", mode=mode, threads=a.threads, batch=a.batch,
                     clips_per_s=round(a.batch / s, 2))


if __name__ == "__main__":
    sys.exit(main())
