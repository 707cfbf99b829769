"""``facefair experiment`` and ``demo``: many runs from one command, resumable. An experiment
file is the one way to run a grid (the ASAC ablation tables 4-6 are ``asac_table4/5/6``)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError
from ..options import parse_kv, split_kv


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("experiment", help="the experiments behind the results: list them, or run one or all "
                                          "(resumable, skips what is done)")
    p.add_argument("action", choices=("list", "run", "status"),
                   help="list the experiments; run one (or all); status: where a table stands, run by run")
    p.add_argument("name", nargs="?", default="all", help="an experiment's name, a .toml file, or all")
    p.add_argument("--scale", default="cpu", choices=("cpu", "pretrained", "gpu", "full"),
                   help="cpu: from scratch at the scale this 2-core machine runs; pretrained: an "
                        "ImageNet EfficientNet-Lite0 fine-tuned on the same machine; gpu: the paper's setting; "
                        "full: the pretrained recipe on every training image (where a file has it)")
    p.add_argument("--out", default="runs/experiments", help="output root")
    p.add_argument("--data", default=None, help="folder holding the datasets (default $FACEFAIR_DATA or ../shared/data)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds instead of the file's")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                   help="only these values of a grid key, e.g. target=Smiling (repeatable)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="sets",
                   help="override a training option of every run, e.g. bf16=false where the CPU only emulates "
                        "bf16 (repeatable; TOML values; use another --out, the runs differ from the file's)")
    p.add_argument("--runs", default=None, metavar="ID1,ID2",
                   help="only these [[run]] ids of the file, e.g. erm,reweight (with the bases they fine-tune "
                        "from); the table then has those rows")
    p.add_argument("--restore", action="append", metavar="RESULTS.json", default=[],
                   help="fill the run folders not made yet from this archive of an earlier run of the same "
                        "experiment, scale and --set (a committed docs/experiments/*.json): a table split over "
                        "machines or sessions is finished without training its done rows again (repeatable)")
    p.add_argument("--dry-run", action="store_true",
                   help="check the file and list the planned runs and what is done; train nothing")
    p.add_argument("--yes", action="store_true", help="plan and run a grid of more than 2,000 runs without asking")
    # checked by run_experiment against experiments.runner.EXECUTORS (importing it here would
    # import torch, which 'facefair metrics' must not need)
    p.add_argument("--executor", default="sequential", metavar="sequential|ray",
                   help="sequential: one run after another in this process; ray: every run a Ray task, as many at "
                        "once as the cluster allows (pip install \"facefair[ray]\"); with --dry-run, the "
                        "dependency levels and the critical path")
    p.add_argument("--address", default=None, metavar="ADDR|auto",
                   help="with --executor ray: the running cluster to use (auto: the one 'ray start' made here); "
                        "default: start Ray on this machine for this table")
    p.add_argument("--cpus-per-run", type=int, default=1, metavar="N",
                   help="with --executor ray: CPUs each run asks Ray for, also its torch threads (default 1)")
    p.add_argument("--gpus-per-run", type=float, default=None, metavar="G",
                   help="with --executor ray: GPUs each run asks for (default 1 at --scale gpu, else 0)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("demo", help="the whole pipeline on the synthetic biased faces")
    p.add_argument("--out", default="demo-output", help="output folder")
    p.add_argument("--quick", action="store_true", help="a smaller, faster setting (tests)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)


def cmd_experiment(args: argparse.Namespace) -> int:
    from ..experiments import experiment_status, find_experiments, load_experiment, resolve, run_experiment

    if args.action == "list":
        for name, path in find_experiments().items():
            print(f"{name:<24} {load_experiment(path).paper:<34} {path.name}")
        return 0
    seeds = [int(s) for s in args.seeds.split(",") if s] if args.seeds else None
    only: dict[str, list[str]] | None = None
    for item in args.grid or []:
        key, vals = split_kv(item, "--grid")
        only = {**(only or {}), key: [v.strip() for v in vals.split(",") if v.strip()]}
    sets = parse_kv(args.sets, "--set")
    runs = [r.strip() for r in args.runs.split(",") if r.strip()] if args.runs is not None else None
    if args.action == "status":
        for exp in resolve(args.name):
            print("\n".join(experiment_status(exp, args.out, args.scale, args.data, seeds, only, sets, runs)))
        return 0
    ray = None
    if args.executor == "ray":
        from ..experiments.ray_executor import RaySettings

        ray = RaySettings(args.address, args.cpus_per_run, args.gpus_per_run)
    elif args.address is not None or args.gpus_per_run is not None or args.cpus_per_run != 1:
        raise ConfigError("--address, --cpus-per-run and --gpus-per-run are options of --executor ray")
    for exp in resolve(args.name):
        path = run_experiment(exp, args.out, args.scale, args.data, seeds, args.dry_run, not args.no_progress,
                              only=only, sets=sets, runs=runs, restore=args.restore, yes=args.yes,
                              executor=args.executor, ray=ray)
        if not args.dry_run:
            print(f"wrote {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    run_demo(args.out, quick=args.quick, progress=not args.no_progress)
    return 0
