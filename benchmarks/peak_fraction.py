"""The fraction of the machine's measured peak that training reaches, per backbone and path.

Peak: the FLOP/s of a large square matmul (fp32, and bf16), measured here. Training: one
optimizer step of a facefair classifier on random in-memory tensors, timed as the median of a
few steps, for each backbone and resolution over the paths asked for: precision (fp32, bf16
autocast), memory format (channels_last, NCHW), compilation (eager, ``torch.compile``) and
thread count. FLOPs: the forward's, counted by ``torch.utils.flop_counter.FlopCounterMode``
(multiply-adds as 2), times 3 (a backward computes the input and the weight gradient, each as
costly as the forward) less the first layer's input gradient, which nothing needs. Its own
backward count is not used: it is 1 + groups times the forward for a grouped convolution (a
depthwise convolution of 32 channels counted 34x, torch 2.14), which would credit
EfficientNet's depthwise layers with work they never do. The figure is achieved FLOP/s over
the peak of the precision.

    python benchmarks/peak_fraction.py --runs resnet18@64,efficientnet_lite0@96 \
        --formats cl,nchw --compile --threads 2,1
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

from facefair.config import TrainConfig
from facefair.models import build_model
from facefair.trainer import build_optimizer


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times)


def train_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one training step: 3 forwards less the first layer's input gradient."""
    first: list[int] = []

    def hook(m: torch.nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if not first:
            kh, kw = m.kernel_size
            first.append(2 * out.numel() * (m.in_channels // m.groups) * kh * kw)

    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    handle = conv.register_forward_hook(hook)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    handle.remove()
    return 3 * counter.get_total_flops() - first[0]


def opt_fused() -> bool:
    """Whether the trainer's Adam runs the fused kernel here."""
    opt = build_optimizer(TrainConfig(), [{"params": [torch.nn.Parameter(torch.zeros(1))]}])
    return bool(opt.defaults.get("fused"))


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, bf16: bool) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
        loss = F.cross_entropy(model(x).float(), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def measure(arch: str, size: int, prec: str, fmt: str, compiled: bool, batch: int, steps: int,
            adam: str = "trainer") -> dict:
    torch.manual_seed(0)
    memory = torch.channels_last if fmt == "cl" else torch.contiguous_format
    model = build_model(arch).train().to(memory_format=memory)
    opt = (build_optimizer(TrainConfig(), [{"params": list(model.parameters())}]) if adam == "trainer"
           else torch.optim.Adam(model.parameters(), 1e-3, foreach=True))  # per-tensor loops (torch's default)
    x = torch.rand(batch, 3, size, size).contiguous(memory_format=memory)
    y = torch.randint(0, 2, (batch,))
    flops = train_flops(model, x)
    run = torch.compile(model) if compiled else model
    t = time.perf_counter()
    train_step(run, opt, x, y, prec == "bf16")  # warm-up (and compilation)
    warmup = time.perf_counter() - t
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        train_step(run, opt, x, y, prec == "bf16")
        times.append(time.perf_counter() - t)
    step = statistics.median(times)
    return {"flops_per_step": flops, "step_s": step, "img_per_s": batch / step, "warmup_s": warmup}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="resnet18@64,efficientnet_lite0@96", help="ARCH@SIZE,...")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--formats", default="cl", help="cl (channels_last) and/or nchw")
    ap.add_argument("--compile", action="store_true", help="also each path under torch.compile")
    ap.add_argument("--threads", default=str(torch.get_num_threads()), help="thread counts to try")
    ap.add_argument("--adam", default="trainer", help="trainer (its fused Adam where supported) and/or loops")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--name", default="paths", help="the result file: docs/benchmarks/peak_fraction_NAME.json")
    args = ap.parse_args()
    peak = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    result: dict = {"peak_flops": peak, "runs": []}
    for spec in args.runs.split(","):
        arch, size = spec.split("@")
        for threads in map(int, args.threads.split(",")):
            torch.set_num_threads(threads)
            for prec in args.precisions.split(","):
                for fmt in args.formats.split(","):
                    for compiled, adam in [(c, a) for c in ((False, True) if args.compile else (False,))
                                           for a in args.adam.split(",")]:
                        r = measure(arch, int(size), prec, fmt, compiled, args.batch_size, args.steps, adam)
                        frac = r["flops_per_step"] / r["step_s"] / peak[prec]
                        result["runs"].append({"arch": arch, "size": int(size), "precision": prec, "format": fmt,
                                               "compiled": compiled, "threads": threads, "adam": adam, **r})
                        print(f"{arch}@{size} {prec} {fmt}{' compiled' if compiled else ''}, {threads} thr, Adam {adam}: {frac:.0%} "
                              f"of the first peak reading ({r['img_per_s']:.0f} img/s) [{r['flops_per_step'] / 1e9:.1f} "
                              f"GFLOP/step, warm-up {r['warmup_s']:.0f} s]", flush=True)
    torch.set_num_threads(max(map(int, args.threads.split(","))))
    # the peak again at the end, the higher of the two kept: a slow spell of a shared machine
    # during one reading would otherwise put a training figure above 100%
    again = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    result["peak_readings"] = {k: [peak[k], again[k]] for k in peak}
    peak = {k: max(peak[k], again[k]) for k in peak}
    result["peak_flops"] = peak
    for r in result["runs"]:
        r["fraction_of_peak"] = r["flops_per_step"] / r["step_s"] / peak[r["precision"]]
    cells = [f"{r['arch']}@{r['size']} {r['precision']} {r['format']}{' compiled' if r['compiled'] else ''}, "
             f"{r['threads']} thr{'' if r['adam'] == 'trainer' else ', Adam loops'}: {r['fraction_of_peak']:.0%} "
             f"({r['img_per_s']:.0f} img/s)" for r in result["runs"]]
    fr = [r["fraction_of_peak"] for r in result["runs"]]
    row = (f"| training FLOP/s / measured matmul peak | batch {args.batch_size}, the trainer's Adam ({'fused' if opt_fused() else 'per-tensor loops'}), random tensors; peak fp32 "
           f"{peak['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s; FLOPs 3x forward less the "
           f"first layer's input gradient | " + "; ".join(cells) + f" | {min(fr):.2f}-{max(fr):.2f} |")
    write_result(f"peak_fraction_{args.name}", result, row)


if __name__ == "__main__":
    main()
