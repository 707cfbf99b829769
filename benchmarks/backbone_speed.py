"""Training speed of backbones at their own resolutions, measured in one run, interleaved.

Each arm (ARCH@SIZE, random weights: the speed does not depend on them) steps ERM through the method's own ``train_step``
on the same random batch held in memory, fp32 unless --bf16; rounds alternate between the arms
so that a noisy, shared machine slows them alike, and the median of the rounds is reported.
The question it answers: what does moving from ResNet-18 at 64 px (the from-scratch tables) to
a pretrained EfficientNet-Lite0 at 96-112 px cost per training image on this CPU?

    python benchmarks/backbone_speed.py --arms resnet18@64,efficientnet_lite0@96,efficientnet_lite0@112
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from _common import cpu_model, stepping, write_result

from facefair.config import TrainConfig
from facefair.data import Task, load_dataset
from facefair.methods import Batch


def _arm(spec: str, batch_size: int, bf16: bool, task: Task) -> dict[str, Any]:
    arch, _, size = spec.partition("@")
    cfg = TrainConfig(arch=arch, size=int(size), batch_size=batch_size, bf16=bf16)
    method, model, ctx = stepping(cfg, task, "erm")
    x = torch.rand(batch_size, 3, cfg.size, cfg.size)
    batch = Batch(x, torch.randint(0, 2, (batch_size,)), torch.randint(0, 2, (batch_size,)), torch.arange(batch_size))
    method.train_step(model, batch, ctx)  # warm-up
    return {"spec": spec, "method": method, "model": model, "ctx": ctx, "batch": batch, "rates": []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arms", default="resnet18@64,efficientnet_lite0@96,efficientnet_lite0@112")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3, help="steps per arm per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    task = load_dataset("synthetic", size=32, n_train=64, n_val=16, n_test=16).task("smile", "group")
    arms = [_arm(s, args.batch_size, args.bf16, task) for s in args.arms.split(",")]
    for _ in range(args.rounds):
        for a in arms:
            t = time.perf_counter()
            for _ in range(args.steps):
                a["method"].train_step(a["model"], a["batch"], a["ctx"])
            a["rates"].append(args.steps * args.batch_size / (time.perf_counter() - t))
    med = {a["spec"]: statistics.median(a["rates"]) for a in arms}
    ref = arms[0]["spec"]
    cells = ", ".join(f"{s} {r:.1f} img/s" for s, r in med.items())
    ratios = ", ".join(f"{s} {r / med[ref]:.2f}x" for s, r in med.items() if s != ref)
    prec = "bf16" if args.bf16 else "fp32"
    row = (f"| backbone_speed | ERM train step, batch {args.batch_size}, {prec}, {torch.get_num_threads()} threads, "
           f"{cpu_model()}; median of {args.rounds} interleaved rounds | {cells} | against {ref}: {ratios} |")
    write_result(f"backbone_speed_{prec}", {"arms": {a["spec"]: a["rates"] for a in arms}, "median": med,
                                            "cpu": cpu_model(), "batch_size": args.batch_size}, row)


if __name__ == "__main__":
    main()
