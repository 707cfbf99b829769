"""Two facefair trainings on one machine: each one's wall time beside the other, over its time alone.

Every arm runs the same ``facefair train`` command (a real process: import, data, training,
validation, checkpoint) alone, then two copies started together; arms are interleaved in
rounds. Arms: facefair's defaults (one thread per usable core, fewer while other processes
keep the cores busy), one thread per core held fixed (--threads = the cores: torch's default),
the same with threads that sleep while they wait (OMP_WAIT_POLICY=PASSIVE), one thread each
(--threads 1), and with --before SRC the code of another checkout (its defaults). Each
training's own img/s (its log row) is kept beside the wall time.

    python benchmarks/shared_cpu.py --dataset celeba --root ../shared/data/celeba \\
        --target Smiling --protected Male --max-train 1920 --before /path/to/old/src
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import add_task_args, write_result

SRC = Path(__file__).resolve().parents[1] / "src"


def _command(args: argparse.Namespace, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "facefair", "train", "--dataset", args.dataset,
            *(["--root", args.root] if args.root else []), "--target", args.target,
            "--protected", args.protected, "--arch", args.arch, "--size", str(args.size),
            "--batch-size", str(args.batch_size), *(["--precision", "bf16"] if args.bf16 else []),
            *(["--channels-last"] if args.channels_last else []), "--epochs", "1", "--max-train", str(args.max_train), "--max-val", str(args.max_val),
            "--no-progress", "--out", str(out), *extra]


def _launch(args: argparse.Namespace, arm: dict[str, Any], folder: Path, copies: int) -> list[dict[str, float]]:
    """Start ``copies`` trainings of ``arm`` together; wall seconds and img/s of each."""
    procs = []
    for c in range(copies):
        out = folder / f"run{c}"
        env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        env.update(arm["env"])
        env["PYTHONPATH"] = arm["src"]
        procs.append((time.perf_counter(), out, subprocess.Popen(
            _command(args, out, arm["flags"]), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    result = []
    for t0, out, p in procs:
        err, _ = p.communicate()  # the command's messages (stdout and stderr together)
        wall = time.perf_counter() - t0
        if p.returncode:
            raise SystemExit(f"training failed ({p.returncode}):\n{err[-2000:]}")
        row = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
        start = next((line for line in err.splitlines() if "training " in line), "")
        changes = [line for line in err.splitlines() if line.startswith("CPU threads ")]
        result.append({"wall_s": wall, "train_img_per_s": row["train_img_per_s"], "start_line": start,
                       "thread_changes": changes})
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_task_args(ap)  # --bf16 asks for bf16; without it the runs' own --precision auto decides
    ap.add_argument("--max-train", type=int, default=1920)
    ap.add_argument("--max-val", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--before", default=None, help="another checkout's src/ folder: an arm with its defaults")
    args = ap.parse_args()

    cores = str(len(os.sched_getaffinity(0)))
    arms: dict[str, dict[str, Any]] = {
        "facefair default (threads follow the load)": {"src": str(SRC), "env": {}, "flags": []},
        f"--threads {cores} (fixed, spinning)": {"src": str(SRC), "env": {}, "flags": ["--threads", cores]},
        f"--threads {cores}, OMP_WAIT_POLICY=PASSIVE": {"src": str(SRC), "env": {"OMP_WAIT_POLICY": "PASSIVE"},
                                                        "flags": ["--threads", cores]},
        "--threads 1": {"src": str(SRC), "env": {}, "flags": ["--threads", "1"]},
    }
    if args.before:
        arms["before (other checkout, its defaults)"] = {"src": str(Path(args.before).resolve()), "env": {}, "flags": []}
    runs: dict[str, dict[str, list[dict[str, float]]]] = {k: {"alone": [], "pair": []} for k in arms}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for i, (name, arm) in enumerate(arms.items()):
                for mode, copies in (("alone", 1), ("pair", 2)):
                    folder = Path(tmp) / f"r{r}-a{i}-{mode}"
                    runs[name][mode].extend(_launch(args, arm, folder, copies))
                    print(name, mode, [round(x["wall_s"], 1) for x in runs[name][mode][-copies:]], flush=True)
    summary = {}
    for name, rr in runs.items():
        alone = statistics.median(x["wall_s"] for x in rr["alone"])
        alone_rate = statistics.median(x["train_img_per_s"] for x in rr["alone"])
        summary[name] = {"alone_wall_s": alone, "pair_wall_s": [x["wall_s"] for x in rr["pair"]],
                         "slowdown": max(x["wall_s"] for x in rr["pair"]) / alone,
                         "alone_img_per_s": alone_rate,
                         "pair_img_per_s": [x["train_img_per_s"] for x in rr["pair"]],
                         "start_line": rr["alone"][0]["start_line"]}
    result = {"dataset": args.dataset, "arch": args.arch, "size": args.size, "max_train": args.max_train,
              "rounds": args.rounds, "cores": len(os.sched_getaffinity(0)), "runs": runs, "summary": summary}
    cells = "; ".join(f"{k}: alone {v['alone_wall_s']:.0f} s ({v['alone_img_per_s']:.0f} img/s), "
                      f"pair {max(v['pair_wall_s']):.0f} s ({min(v['pair_img_per_s']):.0f} img/s) = "
                      f"{v['slowdown']:.2f}x" for k, v in summary.items())
    default = summary["facefair default (threads follow the load)"]["slowdown"]
    row = (f"| two trainings on one machine: slower one's wall time / alone | `facefair train` {args.dataset} "
           f"{args.arch} {args.size}px, {args.max_train} images, 1 epoch, {result['cores']} cores, "
           f"{args.rounds} round(s) | {cells} | {default:.2f} (default) |")
    write_result(f"shared_cpu_{args.dataset}_{args.arch}_{args.size}", result, row)


if __name__ == "__main__":
    main()
