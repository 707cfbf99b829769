"""Data-pipeline overhead: training img/s from the real data pipeline vs random in-memory tensors.

Both arms run the same model, optimizer, loss and step in the same process, interleaved in
rounds (pipeline, synthetic, pipeline, ...) so machine noise hits both alike; the ratio of
medians is the figure. The pipeline arm reads the task's train split through facefair's loader
(from the prepared cache when one exists, else decoding JPEGs), converts to float, flips,
and steps.

    python benchmarks/pipeline_overhead.py --dataset celeba --root ../shared/data/celeba \\
        --target Smiling --protected Male --arch resnet18 --size 64
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from _common import add_task_args, task_config, task_fields, write_result

from facefair.data.from_config import load_task
from facefair.data.loader import SplitImages, iterate, random_flip, to_input
from facefair.models import build_model
from facefair.trainer import build_optimizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_task_args(ap)
    ap.add_argument("--steps", type=int, default=20, help="steps per round and arm")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-cache", action="store_true")
    args = ap.parse_args()

    cfg = task_config(args, cache=None if args.no_cache else "auto")
    task = load_task(cfg)
    source = "prepared cache" if task.data.images is not None and task.data.store is not None else (
        "in-memory synthetic" if task.data.store is None else "JPEG decoding")
    ds = SplitImages(task, task.indices("train"), args.size)
    torch.manual_seed(0)
    model = build_model(args.arch, n_groups=task.n_groups)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(cfg, [{"params": list(model.parameters())}])
    gen = torch.Generator().manual_seed(0)
    amp = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with amp:
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    fixed_x = torch.rand(args.batch_size, 3, args.size, args.size)
    if args.channels_last:
        fixed_x = fixed_x.contiguous(memory_format=torch.channels_last)
    fixed_y = torch.randint(0, 2, (args.batch_size,))
    model.train()
    step(fixed_x, fixed_y)  # warm-up
    pipe, synth = [], []
    epoch = 0
    batches = iterate(ds, args.batch_size, shuffle=True, seed=0, epoch=epoch, drop_last=True)
    for _ in range(args.rounds):
        t = time.perf_counter()
        for _ in range(args.steps):
            try:
                b = next(batches)
            except StopIteration:
                epoch += 1
                batches = iterate(ds, args.batch_size, shuffle=True, seed=0, epoch=epoch, drop_last=True)
                b = next(batches)
            x = random_flip(to_input(b["x"], "cpu", args.channels_last), gen)
            step(x, b["y"])
        pipe.append(args.steps * args.batch_size / (time.perf_counter() - t))
        t = time.perf_counter()
        for _ in range(args.steps):
            step(fixed_x, fixed_y)
        synth.append(args.steps * args.batch_size / (time.perf_counter() - t))
    p, s = statistics.median(pipe), statistics.median(synth)
    result = {**task_fields(args), "source": source,
              "pipeline_img_per_s": pipe, "random_tensor_img_per_s": synth,
              "pipeline_median": p, "random_tensor_median": s, "ratio": p / s}
    setting = (f"{args.dataset} {args.arch} {args.size}px bs{args.batch_size}"
               f"{' bf16' if args.bf16 else ''}{' channels_last' if args.channels_last else ''}, {source}")
    row = (f"| pipeline overhead | {setting} | pipeline {p:.0f} img/s vs random tensors {s:.0f} img/s "
           f"| {p / s:.3f} |")
    tag = ("_bf16" if args.bf16 else "") + ("_cl" if args.channels_last else "") + ("_jpeg" if args.no_cache else "")
    write_result(f"pipeline_overhead_{args.dataset}_{args.arch}_{args.size}{tag}", result, row)


if __name__ == "__main__":
    main()
