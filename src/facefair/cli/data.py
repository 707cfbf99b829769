"""``facefair datasets`` and ``facefair prepare``: the dataset readers and the pixel cache."""

from __future__ import annotations

import argparse
from typing import Any

from .common import add_data_args, dataset_options


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("datasets", help="list the dataset readers")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("prepare", help="decode and resize a dataset once into a cache")
    add_data_args(p, task=False)
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--out", default=None, help="cache folder (default $FACEFAIR_CACHE or ~/.cache/facefair/...)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_prepare)


def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data import DATASETS

    for info in DATASETS.values():
        task = f" [target {info.default_target}, protected {info.default_protected}]" if info.default_target else ""
        print(f"{info.name:<10} {info.summary}{task}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from ..data import load_dataset, prepare

    data = load_dataset(args.dataset or "synthetic", args.root, **dataset_options(args))
    for note in data.notes:
        print(f"note: {note}")
    out = prepare(data, args.size, args.out, workers=args.workers, progress=not args.no_progress)
    print(f"prepared {len(data)} images of {data.name} at {args.size}px in {out}")
    return 0
