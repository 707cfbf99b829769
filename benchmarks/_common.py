"""Shared by the benchmark scripts: write a JSON result and regenerate docs/BENCHMARKS.md."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

DOCS = Path(__file__).resolve().parents[1] / "docs"
RESULTS = DOCS / "benchmarks"


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), for figures that depend on it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


#: the instruction-set flags a speed figure depends on (bf16 native or emulated, vector width)
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_flags() -> list[str]:
    """Which of :data:`SPEED_FLAGS` this CPU has (/proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [x for x in SPEED_FLAGS if x in have]
    except OSError:
        pass
    return []


def machine() -> dict[str, Any]:
    from facefair.devices import cpu_has_native_bf16

    return {"platform": platform.platform(), "cpu": cpu_model(), "cpu_flags": cpu_flags(),
            "native_bf16": cpu_has_native_bf16(), "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
            "date": time.strftime("%Y-%m-%d")}


def write_result(name: str, result: dict[str, Any], row: str) -> Path:
    """Save ``result`` as docs/benchmarks/NAME.json (with its table row), rebuild the table, print the row."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({**result, "machine": machine(), "row": row}, indent=2) + "\n")
    print(row)
    print(f"wrote {path}")
    rebuild_table()
    return path


def rebuild_table() -> None:
    """docs/BENCHMARKS.md from every result in docs/benchmarks/ (also after copying one in from
    another machine: ``python benchmarks/_common.py``)."""
    rows = [_with_machine(json.loads(p.read_text())) for p in sorted(RESULTS.glob("*.json"))]
    (DOCS / "BENCHMARKS.md").write_text(
        "# Benchmarks\n\nWritten by the scripts in `benchmarks/` (one JSON each in `docs/benchmarks/`). "
        "On a shared, noisy machine a speed figure is only meaningful as a ratio measured within one run, "
        "so each row compares two things measured in the same process, interleaved in rounds where the "
        "script says so (epoch_time: the trainer's epochs, then the same step on a random on-device batch; the GPU rows are read in RESULTS.md, \"Speed on a GPU\").\n\n"
        "| benchmark | setting | result | ratio | machine (CPU, its speed flags, date) |\n|---|---|---|---|---|\n"
        + "\n".join(rows) + "\n")


def _with_machine(doc: dict[str, Any]) -> str:
    """A result's row with the machine it was measured on (flags: where the result recorded them)."""
    m = doc.get("machine") or {}
    flags = " ".join(m["cpu_flags"]) if m.get("cpu_flags") is not None else "flags not recorded"
    cpu = f"{m['cpu']} ({flags})" if m.get("cpu") else "CPU not recorded"
    where = f"{cpu}{', CUDA' if m.get('cuda') else ''}, {m.get('date', '?')}"
    return doc["row"].rstrip().rstrip("|").rstrip() + f" | {where} |"


def add_task_args(ap: argparse.ArgumentParser) -> None:
    """The dataset, task and model options every training benchmark takes."""
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--root", default=None)
    ap.add_argument("--target", default="smile")
    ap.add_argument("--protected", default="group")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--channels-last", action="store_true")


def first_train_batches(cfg: Any, n: int) -> tuple[Any, list[Any]]:
    """The task of ``cfg`` and its first ``n`` train batches, in memory on the CPU (every arm of
    a benchmark steps the same batches)."""
    from facefair.data.from_config import load_task
    from facefair.data.loader import SplitImages, iterate, to_input
    from facefair.methods import Batch

    task = load_task(cfg)
    ds = SplitImages(task, task.indices("train")[: cfg.batch_size * n], cfg.size)
    return task, [Batch(to_input(b["x"], "cpu", cfg.channels_last), b["y"], b["group"], b["index"])
                  for b in iterate(ds, cfg.batch_size)]


def stepping(cfg: Any, task: Any, method_name: str, options: dict[str, Any] | None = None,
             device: torch.device | str = "cpu") -> tuple[Any, Any, Any]:
    """(method, model, step context) for ``method.train_step`` outside the trainer, built as the
    trainer builds them (seeded with ``cfg.seed``, on ``device``, channels_last if asked)."""
    from facefair.methods import get_method
    from facefair.trainer import _Context, build_optimizer

    device = torch.device(device)
    torch.manual_seed(cfg.seed)
    method = get_method(method_name, options or {})
    model = method.build_model(cfg, task).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    opt = build_optimizer(cfg, method.param_groups(model, cfg))
    return method, model, _Context(model, opt, cfg, device, torch.Generator().manual_seed(0))


def step_rounds(arms: dict[str, tuple[Any, Any, Any]], batches: list[Any], rounds: int) -> dict[str, list[float]]:
    """Seconds each (method, model, context) arm takes to step every batch, per round, the arms
    interleaved within each round (so a slow spell of a shared machine hits them alike)."""
    times: dict[str, list[float]] = {k: [] for k in arms}
    for _ in range(rounds):
        for name, (method, model, ctx) in arms.items():
            t = time.perf_counter()
            for b in batches:
                method.train_step(model, b, ctx)
            times[name].append(time.perf_counter() - t)
    return times


def task_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`add_task_args` options as a result's JSON fields."""
    return {"dataset": args.dataset, "arch": args.arch, "size": args.size, "batch_size": args.batch_size,
            "bf16": args.bf16, "channels_last": args.channels_last}


def task_config(args: argparse.Namespace, **extra: Any) -> Any:
    """A TrainConfig from :func:`add_task_args` options."""
    from facefair.config import TrainConfig

    return TrainConfig(dataset=args.dataset, root=args.root, target=args.target, protected=args.protected,
                       arch=args.arch, size=args.size, batch_size=args.batch_size, bf16=args.bf16,
                       channels_last=args.channels_last, **extra)


if __name__ == "__main__":
    rebuild_table()
