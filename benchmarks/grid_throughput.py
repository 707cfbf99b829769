"""A table's wall time with the sequential executor against ``--executor ray`` on this machine.

Both arms run the same real command, ``facefair experiment run`` on a slice of a paper table
(default: ASAC Table 1's base and its ERM fine-tune on CelebA Smiling, 3 seeds: 6 runs, each
fine-tune waiting for its base), each into a fresh ``--out``: the sequential executor (one run
at a time, threads following the machine's load: both cores) and the Ray executor (Ray started
on this machine, one CPU and one thread a run: as many runs at once as there are cores).
Arms alternate over rounds; the ratio is sequential wall time over Ray wall time, Ray's start
and stop included.

    python benchmarks/grid_throughput.py --data ../shared/data
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

from _common import write_result


def _run(args: argparse.Namespace, out: Path, extra: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "facefair", "experiment", "run", args.experiment, "--out", str(out),
           "--data", args.data, "--runs", args.runs, "--seeds", args.seeds, "--no-progress",
           *(a for g in args.grid for a in ("--grid", g)), *(a for s in args.set for a in ("--set", s)), *extra]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{(p.stdout + p.stderr)[-3000:]}")
    archive = next(out.rglob("results.json"))
    runs = json.loads(archive.read_text())["runs"]
    # each run's training speed (its log's epochs): what one thread a run gives up against two
    speed = {}
    for log in out.rglob("log.jsonl"):
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        speed[log.parent.name] = statistics.mean(r["train_img_per_s"] for r in rows)
    return {"wall_s": round(wall, 1), "runs": len(runs), "train_img_per_s": speed,
            "accuracy": {f"{r['run']}-s{r['seed']}": r["metrics"]["metrics"]["accuracy"] for r in runs if "metrics" in r}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", default="asac_table1")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--runs", default="base,ermft")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--grid", action="append", default=None, help="default: target=Smiling")
    ap.add_argument("--set", action="append", default=None,
                    help="default: max_train=1536, max_val=1000, epochs=1 (a minute a run on 2 cores)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--cpus-per-run", type=int, default=1)
    ap.add_argument("--name", default="grid_throughput_celeba_asac_table1")
    args = ap.parse_args()
    args.grid = args.grid or ["target=Smiling"]
    args.set = args.set or ["max_train=1536", "max_val=1000", "epochs=1"]
    arms = {"sequential": [], "ray": ["--executor", "ray", "--cpus-per-run", str(args.cpus_per_run)]}
    results: dict[str, list[dict[str, Any]]] = {a: [] for a in arms}
    with tempfile.TemporaryDirectory(prefix="grid-throughput-") as tmp:
        for r in range(args.rounds):
            order = list(arms) if r % 2 == 0 else list(arms)[::-1]
            for arm in order:
                got = _run(args, Path(tmp) / f"{arm}-{r}", arms[arm])
                results[arm].append(got)
                print(f"round {r + 1} {arm}: {got['wall_s']} s for {got['runs']} runs", flush=True)
    seq = [x["wall_s"] for x in results["sequential"]]
    ray = [x["wall_s"] for x in results["ray"]]
    ratios = [s / r for s, r in zip(seq, ray)]
    diffs = [abs(a - results["ray"][i]["accuracy"][k]) for i, x in enumerate(results["sequential"])
             for k, a in x["accuracy"].items()]
    n = results["ray"][0]["runs"]
    # the most a perfectly packed grid can gain: cores x (a run's speed alone with one thread
    # each / its speed with every core), from the runs' own training rates (training only)
    speed = {a: statistics.mean(v for x in results[a] for v in x["train_img_per_s"].values()) for a in arms}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    ceiling = cores * speed["ray"] / speed["sequential"]
    setting = (f"`facefair experiment run {args.experiment} --runs {args.runs} --seeds {args.seeds} "
               f"{' '.join('--grid ' + g for g in args.grid)} {' '.join('--set ' + s for s in args.set)}` "
               f"({n} runs, fine-tunes after their bases), sequential vs `--executor ray` "
               f"({args.cpus_per_run} CPU a run), {args.rounds} round(s)")
    row = (f"| grid_throughput | {setting} | sequential {statistics.mean(seq):.0f} s, Ray {statistics.mean(ray):.0f} s "
           f"(per round: {', '.join(f'{s:.0f}/{r:.0f}' for s, r in zip(seq, ray))}) | "
           f"**{statistics.mean(ratios):.2f}x** ({', '.join(f'{x:.2f}' for x in ratios)}); training "
           f"{speed['sequential']:.0f} img/s a run alone, {speed['ray']:.0f} two at once: ceiling "
           f"{ceiling:.2f}x |")
    write_result(args.name, {"setting": setting, "sequential": results["sequential"], "ray": results["ray"],
                             "ratios": ratios, "train_img_per_s": speed, "ceiling": ceiling,
                             "max_abs_accuracy_difference": max(diffs, default=None)}, row)


if __name__ == "__main__":
    main()
