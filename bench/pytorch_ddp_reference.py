#!/usr/bin/env python3
"""PyTorch's DistributedDataParallel on this machine: the reference for genrenet's data-parallel training.

ResNet-18 training steps (Adam 1e-4, input 3x128x1024, bf16 autocast + channels_last), as
../shared/reference/pytorch_baseline.py measures them, but with N processes over Gloo on 127.0.0.1, each
with `batch` clips a step and cores/N threads. Prints one JSON object. Run with Debian's /usr/bin/python3.

  bench/pytorch_ddp_reference.py --nproc 2 --batch 8 [--steps 8]
"""
import argparse, json, os, socket, statistics, time

import torch, torch.distributed as dist, torch.multiprocessing as mp, torchvision


def worker(rank, args, port, results):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(max(1, os.cpu_count() // args.nproc))
    if args.nproc > 1:
        dist.init_process_group("gloo", rank=rank, world_size=args.nproc)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).to(memory_format=torch.channels_last)
    if args.nproc > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    x = torch.randn(args.batch, 1, 128, 1024).repeat(1, 3, 1, 1).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for i in range(args.steps + 2):
        t = time.perf_counter()
        opt.zero_grad()
        with torch.cpu.amp.autocast(dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t)
    if rank == 0:
        results.put(statistics.median(times))
    if args.nproc > 1:
        dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=8)
    args = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, args, port, results)) for r in range(args.nproc)]
    for pr in procs:
        pr.start()
    step = results.get()
    for pr in procs:
        pr.join()
    global_batch = args.nproc * args.batch
    print(json.dumps(dict(bench="train_step", impl="pytorch-ddp" if args.nproc > 1 else "pytorch", mode="bf16_cl",
                          processes=args.nproc, batch_per_process=args.batch, step_s=round(step, 3),
                          clips_per_s=round(global_batch / step, 2))), flush=True)


if __name__ == "__main__":
    main()
