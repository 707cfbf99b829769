"""The fraction of the machine's measured peak that training reaches.

Peak: the FLOP/s of a large square matmul (fp32, and bf16), measured here. Training: one
optimizer step of a facefair classifier on random in-memory tensors, its FLOPs counted by
``torch.utils.flop_counter.FlopCounterMode`` (forward + backward, multiply-adds as 2), its
time the median of a few steps. The figure is achieved FLOP/s over peak, per backbone,
resolution and precision (bf16 against the bf16 matmul peak).

    python benchmarks/peak_fraction.py [--archs resnet18,resnet50] [--sizes 64,128]
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from _common import write_result
from torch.utils.flop_counter import FlopCounterMode

from facefair.models import build_model


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times)


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, bf16: bool) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
        loss = F.cross_entropy(model(x).float(), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="resnet18,resnet50")
    ap.add_argument("--sizes", default="64,128")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    torch.manual_seed(0)
    peak = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    cells = []
    result = {"peak_flops": peak, "runs": []}
    for arch in args.archs.split(","):
        for size in map(int, args.sizes.split(",")):
            for prec in ("fp32", "bf16"):
                model = build_model(arch).train().to(memory_format=torch.channels_last)
                opt = torch.optim.Adam(model.parameters(), 1e-3)
                x = torch.rand(args.batch_size, 3, size, size).to(memory_format=torch.channels_last)
                y = torch.randint(0, 2, (args.batch_size,))
                counter = FlopCounterMode(display=False)
                with counter:
                    train_step(model, opt, x, y, prec == "bf16")
                flops = counter.get_total_flops()
                times = []
                for _ in range(args.steps):
                    t = time.perf_counter()
                    train_step(model, opt, x, y, prec == "bf16")
                    times.append(time.perf_counter() - t)
                step = statistics.median(times)
                frac = flops / step / peak[prec]
                result["runs"].append({"arch": arch, "size": size, "precision": prec, "flops_per_step": flops,
                                       "step_s": step, "img_per_s": args.batch_size / step, "fraction_of_peak": frac})
                cells.append(f"{arch} {size}px {prec} {frac:.0%} ({args.batch_size / step:.0f} img/s)")
                print(cells[-1], flush=True)
    fr = [r["fraction_of_peak"] for r in result["runs"]]
    row = (f"| training FLOP/s / measured matmul peak | batch {args.batch_size}, channels_last, Adam, random tensors; "
           f"peak fp32 {peak['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s | "
           + "; ".join(cells) + f" | {min(fr):.2f}-{max(fr):.2f} |")
    write_result("peak_fraction", result, row)


if __name__ == "__main__":
    main()
