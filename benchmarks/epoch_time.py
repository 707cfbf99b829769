"""Epoch time and throughput of real training through facefair's trainer, on any device.

Each method trains ``--epochs`` epochs through :func:`facefair.trainer.train` (loader, flips,
autocast, the method's own step, validation after each epoch) and the script reads each epoch's
training seconds and images per second from the run's history. In the same process the same
method then steps on one random batch already on the device: what the model reaches when the
data costs nothing. Their ratio is the figure that survives a noisy machine; the epoch of the
official CelebA train split (162,770 images) is extrapolated from the steady rate (the last
epoch: the first pays cuDNN's autotuning and CUDA's warm-up).

    python benchmarks/epoch_time.py --dataset celeba --root ../shared/data/celeba \\
        --target Smiling --protected Male --arch resnet18 --size 224 --bf16 --channels-last \\
        --device cuda --workers 8
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

import torch
from _common import add_task_args, stepping, task_config, task_fields, write_result

from facefair.data.from_config import load_task
from facefair.data.loader import loader_workers
from facefair.devices import resolve_device
from facefair.logs import captured_messages, show_messages
from facefair.methods import Batch
from facefair.trainer import train

CELEBA_TRAIN = 162_770  # images in the official CelebA train split (partition 0)


def random_rate(cfg: Any, device: torch.device, steps: int, rounds: int) -> list[float]:
    """Images per second of ``cfg.method`` stepping one random on-device batch, per round."""
    task = load_task(cfg)
    method, model, ctx = stepping(cfg, task, cfg.method, cfg.method_options, device)
    n = cfg.batch_size
    x = torch.rand(n, 3, cfg.size, cfg.size, device=device)
    if cfg.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    batch = Batch(x, torch.randint(0, 2, (n,), device=device),
                  torch.randint(0, task.n_groups, (n,), device=device), torch.arange(n))
    for _ in range(3):  # warm-up (autotuning, allocator)
        method.train_step(model, batch, ctx)
    rates = []
    for _ in range(rounds):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        for _ in range(steps):
            method.train_step(model, batch, ctx)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates.append(steps * n / (time.perf_counter() - t))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_task_args(ap)
    ap.add_argument("--methods", default="erm", help="comma-separated training methods")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=None, help="data-loader processes (default: the trainer's choice)")
    ap.add_argument("--max-train", type=int, default=None)
    ap.add_argument("--max-val", type=int, default=None)
    ap.add_argument("--no-cache", action="store_true", help="decode JPEGs every epoch")
    ap.add_argument("--cache", default=None, help="prepared cache folder (default: the usual place)")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN autotune its kernels")
    ap.add_argument("--steps", type=int, default=30, help="random-batch steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tag", default="", help="a note for the result's row, and its file name's suffix")
    args = ap.parse_args()

    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    device = resolve_device(args.device)
    workers = loader_workers(args.workers, device)
    cache = None if args.no_cache else (args.cache or "auto")
    arms: dict[str, dict[str, Any]] = {}
    show_messages()
    for name in args.methods.split(","):
        cfg = task_config(args, method=name, epochs=args.epochs, device=str(device), workers=workers,
                          max_train=args.max_train, max_val=args.max_val, cache=cache, progress=False)
        with tempfile.TemporaryDirectory() as tmp, captured_messages() as lines:  # this arm's training log
            t = time.perf_counter()
            res = train(cfg, tmp)
            wall = time.perf_counter() - t
        source = next((ln for ln in lines if ln.startswith("using prepared cache")),
                      "no prepared cache: images decoded (or generated) every epoch")
        hist = res.history
        steady = hist[-1]["train_img_per_s"]
        rand = random_rate(cfg, device, args.steps, args.rounds)
        rand_median = statistics.median(rand)
        arms[name] = {"epoch_train_seconds": [h["train_seconds"] for h in hist],
                      "epoch_img_per_s": [h["train_img_per_s"] for h in hist],
                      "train_images": round(hist[-1]["train_img_per_s"] * hist[-1]["train_seconds"]),
                      "wall_seconds_with_validation": wall, "steady_img_per_s": steady,
                      "random_batch_img_per_s": rand, "random_median": rand_median,
                      "pipeline_over_random": steady / rand_median,
                      "celeba_epoch_minutes": CELEBA_TRAIN / steady / 60,
                      "last_val_accuracy": hist[-1].get("val_accuracy")}
        print(f"{name}: {arms[name]}", flush=True)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    result = {**task_fields(args), "device": str(device), "gpu": gpu, "workers": workers,
              "epochs": args.epochs, "cache": source.startswith("using prepared cache"), "source": source,
              "pinned": device.type == "cuda" and workers > 0,
              "cudnn_benchmark": args.cudnn_benchmark, "methods": arms}
    setting = (f"{args.dataset} {args.arch} {args.size}px bs{args.batch_size}"
               f"{' bf16' if args.bf16 else ''}{' channels_last' if args.channels_last else ''}, {gpu}, "
               f"{'uint8 cache' if result['cache'] else 'no cache'}, {workers} workers"
               f"{', cudnn.benchmark' if args.cudnn_benchmark else ''}{f', {args.tag}' if args.tag else ''}")
    full = args.dataset == "celeba"  # the extrapolation is only CelebA's
    cells = "; ".join(f"{k}: {a['steady_img_per_s']:.0f} img/s, {a['train_images']} images in "
                      f"{a['epoch_train_seconds'][-1]:.1f} s"
                      + (f", full CelebA train epoch {a['celeba_epoch_minutes']:.1f} min" if full else "")
                      + f" (random batch {a['random_median']:.0f} img/s)"
                      for k, a in arms.items())
    ratios = "; ".join(f"{k} {a['pipeline_over_random']:.2f}" for k, a in arms.items())
    if len(arms) > 1:
        first, *rest = arms
        ratios += "; " + "; ".join(f"{first}/{k} {arms[first]['steady_img_per_s'] / arms[k]['steady_img_per_s']:.2f}"
                                   for k in rest)
    row = f"| epoch time | {setting} | {cells} | {ratios} |"
    tag = ("_bf16" if args.bf16 else "") + ("_cl" if args.channels_last else "") + \
        ("_jpeg" if args.no_cache else "") + ("_cudnnbench" if args.cudnn_benchmark else "") + \
        (f"_{args.tag}" if args.tag else "")
    write_result(f"epoch_time_{device.type}_{args.dataset}_{args.arch}_{args.size}{tag}", result, row)


if __name__ == "__main__":
    main()
