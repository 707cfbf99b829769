"""``facefair methods``, ``train``, ``mitigate``, ``postprocess``: the methods, the one trainer,
and thresholds over a trained run."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from typing import Any

from ..errors import unknown_name
from .common import (
    Parser,
    add_config_args,
    add_data_args,
    add_field_args,
    add_trainer_args,
    is_main_process,
    train_config,
    trainer_overrides,
)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("methods", help="list the training methods, one per line, name first")
    p.add_argument("name", nargs="?", help="show this method's options and paper defaults")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("train", help="train a model with a method")
    add_data_args(p)
    g = p.add_argument_group("model")
    add_config_args(g, "model")
    g.add_argument("--method-opt", action="append", metavar="KEY=VALUE", help="method option")
    g.add_argument("--cache", default=None, help="prepared cache folder (default: the one 'prepare' wrote, if any)")
    g.add_argument("--no-cache", action="store_true", help="decode images on the fly")
    add_trainer_args(p)
    p.add_argument("--out", required=True, help="run folder")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("mitigate", help="fine-tune a trained run with a mitigation method (e.g. asac)",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="NAME --from BASE_RUN --out RUN [options]")
    p.set_defaults(func=cmd_mitigate)

    p = sub.add_parser("postprocess", help="group thresholds (Hardt et al. 2016) on a trained run's validation "
                                           "scores, written as a new run folder")
    p.add_argument("run", help="the trained run whose scores are thresholded")
    p.add_argument("--constraint", required=True, metavar="NAME",
                   help="the rates made equal across groups on validation, at the best expected accuracy: "
                        "equalized_odds, equal_opportunity or demographic_parity")
    p.add_argument("--out", required=True, help="the new run folder (evaluate, table, report and select read it)")
    p.add_argument("--seed", type=int, default=0, help="seeds the per-image coins of randomised decisions")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates for intervals (0 = none)")
    p.add_argument("--use-existing-folder", action="store_true",
                   help="write into --out although it holds files that are not a facefair run")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_postprocess)


def cmd_methods(args: argparse.Namespace) -> int:
    from ..methods import registered

    methods = registered()
    if args.name:
        if args.name not in methods:
            raise unknown_name("method", args.name, methods)
        cls = methods[args.name]
        print(f"{cls.name}: {cls.summary}")
        print("options (train: --method-opt KEY=VALUE; mitigate: --key value):")
        docs = option_docs(cls.Options)
        for f in dataclasses.fields(cls.Options):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
            shown = ",".join(map(str, default)) if isinstance(default, (tuple, list)) else default
            print(f"  {f.name:<16} {shown!s:<14} {docs.get(f.name, '')}".rstrip())
        defaults = getattr(cls, "train_defaults", {}) or {}
        if defaults:
            print("trainer defaults (override with the usual flags): "
                  + ", ".join(f"{k}={v}" for k, v in defaults.items()))
        return 0
    width = max(map(len, methods))
    for name, cls in sorted(methods.items()):
        labels = "uses protected labels" if cls.uses_protected else "no protected labels"
        print(f"{name:<{width}}  {cls.summary} ({labels})")
    return 0


def option_docs(options_cls: type) -> dict[str, str]:
    """Each option's words, as plain text, from the ``Attributes`` sections of its Options docstrings."""
    docs: dict[str, str] = {}
    for k in reversed(options_cls.__mro__):
        name = None
        for line in (inspect.getdoc(k) or "").splitlines() if "__doc__" in vars(k) else []:
            m = re.match(r"(\w+): (.*)", line)
            if m:
                name, docs[m.group(1)] = m.group(1), m.group(2)
            elif name and line.startswith("    "):
                docs[name] += " " + line.strip()
            else:
                name = None
    return {k: v.replace("``", "") for k, v in docs.items()}  # plain text for a terminal


def cmd_train(args: argparse.Namespace) -> int:
    from ..trainer import train

    cfg = train_config(args)
    res = train(cfg, args.out, resume=args.resume, use_existing=args.use_existing_folder)
    if is_main_process():
        print(f"done: best epoch {res.best_epoch} (validation {cfg.select} {res.best_score:.4f}); "
              f"run folder {res.out}")
        print(f"next: facefair evaluate {res.out}")
    return 0


def _method_option_args(p: argparse.ArgumentParser, options_cls: type) -> list[str]:
    """One flag per field of a method's options dataclass (``--eps 0,0.01``, ``--no-random-start``)."""
    fields = dataclasses.fields(options_cls)
    add_field_args(p.add_argument_group("method options (paper defaults)"), options_cls, list(fields),
                   dest_prefix="opt_", docs=option_docs(options_cls), metavar="VALUE")
    return [f.name for f in fields]


def method_run_args(command: str, rest: list[str], extra: Any = None) -> tuple[argparse.Namespace, dict, dict]:
    """Parse ``NAME --from BASE --out DIR [trainer options] [NAME's options]``."""
    from ..methods import registered

    methods = registered()
    name = rest[0] if rest and not rest[0].startswith("-") else None
    p = Parser(prog=f"facefair {command} {name or 'NAME'}",
               description="Fine-tune a trained run with a mitigation method.")
    p.add_argument("name", help=f"method: {', '.join(methods)}")
    p.add_argument("--from", dest="base", required=True, metavar="BASE_RUN", help="the trained run to start from")
    p.add_argument("--out", required=True, help="output folder")
    if extra is not None:
        extra(p)
    add_trainer_args(p)
    opt_names = _method_option_args(p, methods[name].Options) if name in methods else []
    margs = p.parse_args(rest)
    if margs.name not in methods:
        raise unknown_name("method", margs.name, methods)
    options = {k: getattr(margs, f"opt_{k}") for k in opt_names if getattr(margs, f"opt_{k}") is not None}
    overrides = trainer_overrides(margs)
    overrides["progress"] = not margs.no_progress
    return margs, options, overrides


def cmd_mitigate(args: argparse.Namespace) -> int:
    from ..mitigation import mitigate

    margs, options, overrides = method_run_args("mitigate", list(args.rest))
    res = mitigate(margs.name, margs.base, margs.out, options, resume=margs.resume,
                   use_existing=margs.use_existing_folder, **overrides)
    if is_main_process():
        print(f"done: best epoch {res.best_epoch}; run folder {res.out}")
        print(f"next: facefair evaluate {res.out}")
    return 0


def cmd_postprocess(args: argparse.Namespace) -> int:
    from ..mitigation import postprocess

    report = postprocess(args.run, args.out, args.constraint, seed=args.seed, n_boot=args.bootstrap,
                         progress=not args.no_progress, use_existing=args.use_existing_folder)
    print(report.format_table())
    print(f"done: run folder {args.out} (validation and test predictions and metrics written)")
    print(f"next: facefair table base={args.run} {args.constraint}={args.out}")
    return 0
