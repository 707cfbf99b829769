"""What the command groups share: the parser class (short errors, defaults in help), the data
flags, and the trainer flags generated from :class:`facefair.config.TrainConfig`'s one
declaration of its fields."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, NoReturn

from ..config import TrainConfig
from ..errors import ConfigError
from ..options import coerce, declared_types, parse_kv


class HelpFormatter(argparse.HelpFormatter):
    """Help with each flag's default where it has one that says something."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if ("default" not in text and default not in (None, False, argparse.SUPPRESS, [])
                and action.option_strings and not isinstance(action, argparse.BooleanOptionalAction)):
            text += " (default %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the command and its --help, not
    the whole usage (a missing flag of ``facefair train`` printed 25 lines)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def add_data_args(p: argparse.ArgumentParser, task: bool = True) -> None:
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


def dataset_options(args: argparse.Namespace) -> dict[str, Any]:
    opts = parse_kv(args.data_opt, "--data-opt")
    if args.manifest:
        opts["manifest"] = args.manifest
    return opts


def config_fields(group: str) -> list[dataclasses.Field[Any]]:
    """TrainConfig's fields offered as flags in ``group`` (``model`` or ``training``)."""
    return [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("group") == group]


def _typed(kind: Any, name: str) -> Any:
    def read(text: str) -> Any:
        try:
            return coerce(text, kind, name)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    read.__name__ = name  # argparse names the type in its message
    return read


def add_field_args(p: argparse.ArgumentParser | Any, cls: type, fields: list[dataclasses.Field[Any]],
                   dest_prefix: str = "", docs: dict[str, str] | None = None, metavar: str | None = None) -> None:
    """One flag per field of the dataclass ``cls`` (trainer or method options), typed by its
    annotation, with its help (the field's metadata, else ``docs``) and default; a boolean gets
    ``--x`` and ``--no-x``. Unset flags stay None, so a method's paper defaults and a base
    run's config are not overwritten by defaults the user never gave."""
    types = declared_types(cls)
    for f in fields:
        flag, dest = "--" + f.name.replace("_", "-"), dest_prefix + f.name
        text = f.metadata.get("help") or (docs or {}).get(f.name, "")
        if types[f.name] in (bool, bool | None):  # None: unset, another option decides (bf16: --precision)
            shown = "unset" if f.default is None else "on" if f.default else "off"
            p.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                           help=f"{text} (default {shown})".strip())
            continue
        default = None if f.default is dataclasses.MISSING else f.default
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        p.add_argument(flag, dest=dest, type=_typed(types[f.name], f.name), default=None,
                       choices=f.metadata.get("choices") or None, metavar=f.metadata.get("metavar") or metavar,
                       help=(text + (f" (default {shown})" if shown not in (None, "") else "")).strip())


def add_config_args(p: argparse.ArgumentParser | Any, group: str) -> None:
    """One flag per TrainConfig field of ``group`` (:func:`add_field_args`)."""
    add_field_args(p, TrainConfig, config_fields(group))


def add_trainer_args(p: argparse.ArgumentParser) -> None:
    """Options of the one trainer, shared by ``train`` and ``mitigate``."""
    g = p.add_argument_group("training")
    add_config_args(g, "training")
    g.add_argument("--no-progress", action="store_true", help="no progress bars (they show on a terminal only)")
    g.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    g.add_argument("--use-existing-folder", action="store_true",
                   help="write the run into an --out that already holds other files (refused otherwise)")


def trainer_overrides(args: argparse.Namespace, group: str = "training") -> dict[str, Any]:
    """The trainer flags the user gave (None for the others). ``--clip 0`` stays 0: no
    clipping (None would mean "not given" and leave a base run's clip in place)."""
    return {f.name: getattr(args, f.name, None) for f in config_fields(group)}


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The config of ``facefair train``: dataset defaults, the method's paper settings, then
    the user's flags."""
    from ..data import DATASETS
    from ..methods import apply_train_defaults

    cfg = TrainConfig()
    if args.dataset is not None:
        cfg.dataset = args.dataset
    if cfg.dataset in DATASETS and cfg.dataset != "synthetic":
        info = DATASETS[cfg.dataset]
        cfg.target, cfg.protected = info.default_target, info.default_protected
    if args.method is not None:
        apply_train_defaults(cfg, args.method)  # the method's paper settings, below the user's flags
    cfg.override({**trainer_overrides(args, "model"), **trainer_overrides(args), "root": args.root})
    if args.clip == 0:
        cfg.clip = None
    cfg.target = args.target or cfg.target
    cfg.protected = args.protected or cfg.protected
    if not cfg.target or not cfg.protected:
        raise ConfigError(f"dataset {cfg.dataset} needs --target and --protected")
    cfg.dataset_options = dataset_options(args)
    cfg.method_options = parse_kv(args.method_opt, "--method-opt")
    if args.no_cache:
        cfg.cache = None
    elif args.cache:
        cfg.cache = args.cache
    cfg.progress = not args.no_progress
    return cfg


def is_main_process() -> bool:
    """False on torchrun ranks other than 0, which train but stay silent."""
    from ..distributed import from_env

    return from_env().is_main
