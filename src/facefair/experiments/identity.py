"""What a run trains, as a comparable record: two runs with the same identity are the same
run (one is reused, not retrained; an archived one restores), wherever each machine keeps
its data."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..config import VOLATILE, TrainConfig, resolve_data_paths
from ..devices import resolve_device, resolve_precision
from ..errors import ConfigError
from ..generative.config import GeneratorConfig
from ..generative.model import CONFIG as GENERATOR_CONFIG
from ..methods import get_method
from ..runfolder import RunFolder

#: identity keys a restore does not compare: where the data and cache lie on each machine, and a
#: fine-tune's base (a run of its own, compared where it is restored or trained)
MACHINE_KEYS = ("root", "cache", "init")
#: method options that name another folder (a run, a generator): like ``init``, compared by what
#: that folder holds where it exists, and left out of a restore's comparison (paths are per machine)
FOLDER_OPTIONS = ("generator", "labeler_run", "classifier_run")


def identity(cfg: TrainConfig, depth: int = 0) -> dict[str, Any]:
    """What a config trains: its fields less the volatile ones, a fine-tune's ``init`` folder
    replaced by that base's own identity (so moving or reusing a base keeps it the same), and
    the method's options with their defaults filled in."""
    d = cfg.to_dict()
    for key in VOLATILE:
        d.pop(key, None)
    _fold_precision(d, resolve_precision(cfg, _device(cfg.device))[0])
    # every option spelled out: {} and {"order": "ascending"} (the default) train the same
    d["method_options"] = dataclasses.asdict(get_method(cfg.method, cfg.method_options).options)
    if cfg.method == "postprocess":  # what was asked, not what the fit found (its rule, its base's method)
        d["method_options"] = {k: d["method_options"][k] for k in ("constraint", "seed")}
    for key in FOLDER_OPTIONS:
        if isinstance(d["method_options"].get(key), str) and d["method_options"][key]:
            d["method_options"][key] = _folder_identity(Path(d["method_options"][key]), depth)
    base = RunFolder(d["init"]) if d.get("init") else None  # a run folder, or a .pt file (no config)
    if base is not None and base.has_config() and depth < 8:
        d["init"] = identity(base.config(), depth + 1)
    # in JSON's shapes (tuples as lists), so an identity read back from an archive compares equal
    return json.loads(json.dumps(d))


#: the keys that together say a run's precision (--bf16 and --fp16: the older way to say it)
PRECISION_KEYS = ("precision", "bf16", "fp16")


def _fold_precision(d: dict[str, Any], precision: str | None = None) -> None:
    """One ``precision`` key (bf16, fp16 or fp32) instead of the three ways to ask for one:
    ``precision`` as resolved on this machine where given, else from the recorded flags (a
    record written before ``--precision`` existed: bf16 false meant fp32)."""
    if precision is None:
        cfg = TrainConfig(**{k: d[k] for k in PRECISION_KEYS if k in d})
        precision = resolve_precision(cfg, _device("auto"))[0]
    for key in PRECISION_KEYS:
        d.pop(key, None)
    d["precision"] = precision


def _device(name: str) -> Any:
    """The device a run would use here (a CUDA run planned on a machine without one: the CPU)."""
    try:
        return resolve_device(name)
    except ConfigError:
        return resolve_device("cpu")


def _folder_identity(path: Path, depth: int) -> Any:
    """What a folder an option names holds: a run's identity, a generator's settings (less where
    its data lie), or the path itself where neither is there (yet)."""
    run = RunFolder(path)
    if run.has_config() and depth < 8:
        return identity(run.config(), depth + 1)
    gen = path / GENERATOR_CONFIG
    if gen.is_file():
        try:
            settings = json.loads(gen.read_text())
        except ValueError:
            return str(path)
        return {k: v for k, v in settings.items() if k not in ("root", *GeneratorConfig.VOLATILE)}
    return str(path)


def same_training(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two run identities train the same, wherever each machine keeps its data. A key one of
    them lacks (an archive written before the option existed) counts at its default value."""
    defaults = {k: v for k, v in json.loads(json.dumps(TrainConfig().to_dict())).items()
                if k not in VOLATILE and k not in PRECISION_KEYS}
    return _filled({**defaults, **a}) == _filled({**defaults, **b})


def precision_of(ident: dict[str, Any]) -> str:
    """The precision a run identity (new, or archived before --precision) trained in."""
    d = dict(ident)
    folded = "bf16" not in d and "fp16" not in d and d.get("precision") in ("bf16", "fp16", "fp32")
    _fold_precision(d, d["precision"] if folded else None)  # else a record from before --precision
    return str(d["precision"])


def _filled(d: dict[str, Any]) -> dict[str, Any]:
    """An identity with machine keys dropped and its method's options at their defaults where
    it lacks them (an archive written before the option existed), its base's too."""
    out = {k: v for k, v in d.items() if k not in MACHINE_KEYS}
    _fold_precision(out, precision_of(out))
    try:
        own = get_method(str(out.get("method")), {}).options.to_dict()
    except ConfigError:
        own = {}
    out["method_options"] = {k: v for k, v in {**json.loads(json.dumps(own)), **(out.get("method_options") or {})}.items()
                             if k not in FOLDER_OPTIONS}
    if isinstance(out.get("init"), dict):
        out["init"] = _filled(out["init"])
    return out


def find_same(root: Path, cfg: TrainConfig, skip: Path) -> Path | None:
    """A finished run folder under ``root`` that trained exactly ``cfg`` (not ``skip``)."""
    want = resolve_data_paths(identity(cfg))
    for saved in sorted(root.rglob(RunFolder.CONFIG)) if root.is_dir() else []:
        folder = saved.parent
        if folder == skip or not RunFolder(folder).is_evaluated():
            continue
        try:
            if resolve_data_paths(identity(TrainConfig.load(saved))) == want:
                return folder
        except ConfigError:
            continue
    return None


def link_copy(src: Path, dst: Path) -> None:
    """Copy a run folder by hard links (a copy where linking fails), then rename into place."""
    tmp = dst.with_name(f".{dst.name}.reuse")
    shutil.rmtree(tmp, ignore_errors=True)
    for path in sorted(src.rglob("*")):
        if path.name == RunFolder.LOCK:  # a lock is the folder's own, never shared by a link
            continue
        target = tmp / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
    os.replace(tmp, dst)
