#!/usr/bin/env python3
"""Where a ResNet-18 training step's time goes in PyTorch (the reference for bench_model --profile 1):
two steps (batch 16, 3x128x1024, Adam 1e-4, bf16 autocast + channels_last) under torch.autograd.profiler,
self CPU time by op name, one JSON object per op. Run with Debian's /usr/bin/python3.

  bench/pytorch_profile_reference.py [--frozen-children N]
"""
import argparse, json, os

import torch, torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frozen-children", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    m = torchvision.models.resnet18(num_classes=10).to(memory_format=torch.channels_last)
    for child in list(m.children())[: args.frozen_children]:
        for q in child.parameters():
            q.requires_grad_(False)
        child.eval()  # frozen batch norms keep their statistics, as genrenet's
    x = torch.randn(16, 1, 128, 1024).repeat(1, 3, 1, 1).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (16,))
    opt = torch.optim.Adam([q for q in m.parameters() if q.requires_grad], lr=1e-4)

    def step():
        opt.zero_grad()
        with torch.cpu.amp.autocast(dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    with torch.autograd.profiler.profile() as prof:
        for _ in range(2):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in rows)
    shown = 0
    for e in rows[:14]:
        shown += e.self_cpu_time_total
        print(json.dumps(dict(bench="train_step_profile", impl="pytorch", frozen_children=args.frozen_children, op=e.key,
                              self_ms=round(e.self_cpu_time_total / 2000, 1),
                              share=round(e.self_cpu_time_total / total, 4))))
    print(json.dumps(dict(bench="train_step_profile", impl="pytorch", frozen_children=args.frozen_children,
                          op="(all other ops)", self_ms=round((total - shown) / 2000, 1),
                          share=round((total - shown) / total, 4))))


if __name__ == "__main__":
    main()
