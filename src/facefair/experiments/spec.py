"""An experiment file read once into typed records, every key of every table checked (name
and type) before anything is planned or trained; each mistake names the file and the key."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import ConfigError
from ..evaluation import cross_tag, output_names
from ..methods import get_method
from ..metrics import METRIC_NAMES
from ..options import check_options, declared_types
from ..report.paper_tables import LAYOUTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: cpu: from scratch on this project's 2-core machine; pretrained: an ImageNet backbone that
#: installs offline (EfficientNet-Lite0) on the same machine; gpu: the paper's own setting
SCALES = ("cpu", "pretrained", "gpu", "full")
#: a [scale.<name>] key naming another scale whose options (the file's and each run's) it starts from
EXTENDS = "extends"
#: subset options whose value "all" lifts the cap (TOML has no null): every image of the split
UNCAPPED = ("max_train", "max_val")
TOP_KEYS = {"experiment", "train", "scale", "grid", "run", "cross", "generator"}
HEAD_KEYS = {"name", "paper", "layout", "seeds", "description"}
RUN_KEYS = {"id", "label", "method", "options", "from", "train", *SCALES, "evaluate", "choose"}
CHOOSE_KEYS = {"among", "metric", "reference", "accuracy_within"}
CROSS_KEYS = {"label", "dataset", "root", "manifest", "target", "protected", "positive", "name", "split"}
#: a method option whose value is this names the experiment's generator folder ([generator]);
#: "@<run id>" names that run's folder of the same seed and grid values (a labeller, say)
GENERATOR_REF = "@generator"
#: what a [generator] table may not set: the experiment's data and the generator's fixed seed
GENERATOR_FIXED = {"dataset", "root", "dataset_options", "seed", "progress", "cache"}
#: grid keys that change the data a generator learns from: one generator cannot serve them all
DATA_KEYS = {"dataset", "root", "dataset_options"}


@dataclass(frozen=True)
class Choose:
    """A row that trains nothing: per seed, the one of ``among`` best on validation by
    ``metric`` within ``accuracy_within`` of ``reference``'s validation accuracy."""

    among: tuple[str, ...]
    metric: str
    reference: str | None = None
    accuracy_within: float = 0.0


@dataclass(frozen=True)
class RunSpec:
    """One ``[[run]]``: a method trained from scratch, fine-tuned ``base`` (the file's
    ``from``), or a ``choose`` row. ``scales`` holds the trainer options of each scale,
    ``scale_options`` the method options of each scale (``cpu = { options = {...} }``)."""

    id: str
    label: str
    method: str = "erm"
    options: dict[str, Any] = field(default_factory=dict)
    base: str | None = None
    train: dict[str, Any] = field(default_factory=dict)
    scales: dict[str, dict[str, Any]] = field(default_factory=dict)
    scale_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluate: tuple[dict[str, Any], ...] = ()
    choose: Choose | None = None

    def needs(self) -> list[str]:
        """The runs this one needs made first: its base, those it chooses among, and those its
        options name ("@<run id>")."""
        c = self.choose
        return ([self.base] if self.base else []) + (
            [*c.among, *([c.reference] if c.reference else [])] if c else []) + self.references()

    def option_values(self) -> list[Any]:
        """Every value its method options take, at any scale."""
        return [*self.options.values(), *(v for o in self.scale_options.values() for v in o.values())]

    def references(self) -> list[str]:
        """The run ids its method options name as ``"@<run id>"`` (any scale's)."""
        return sorted({v[1:] for v in self.option_values()
                       if isinstance(v, str) and v.startswith("@") and v != GENERATOR_REF})

    def uses_generator(self) -> bool:
        return GENERATOR_REF in self.option_values()

    def trainer_options(self, scale: str) -> dict[str, Any]:
        return {**self.train, **self.scales.get(scale, {})}

    def method_options(self, scale: str) -> dict[str, Any]:
        return {**self.options, **self.scale_options.get(scale, {})}


@dataclass(frozen=True)
class CrossSpec:
    """A ``[[cross]]`` evaluation of every run on another dataset (FineFACE Table 3)."""

    dataset: str
    label: str | None = None
    root: str | None = None
    manifest: str | None = None
    target: str | None = None
    protected: str | None = None
    positive: str | None = None
    name: str | None = None
    split: str = "test"

    def under(self, data: Path) -> CrossSpec:
        """This entry with its folders resolved under the data folder."""
        return CrossSpec(**{**self.__dict__, **{k: str(data / v) for k in ("root", "manifest")
                                                  if (v := getattr(self, k)) is not None}})

    def file(self) -> str:
        """The metrics file this evaluation writes in each run folder."""
        return output_names(self.split, cross_tag(self.dataset, self.name), cross=True)[1]

    def done_in(self, folder: Path) -> bool:
        """Is this evaluation in the run folder, made as the entry says? A metrics file of
        another split, target or protected attribute (the experiment file changed since, e.g.
        UTKFace's test tenth to every image) is not: it is made again."""
        try:
            doc = json.loads((folder / self.file()).read_text())
        except (OSError, ValueError):
            return False
        want = {"dataset": self.dataset, "split": self.split, "target": self.target, "protected": self.protected}
        return isinstance(doc, dict) and all(v is None or doc.get(k) == v for k, v in want.items())


@dataclass(frozen=True)
class Experiment:
    """A checked experiment file: a paper table's runs, seeds, grid, scales and cross
    evaluations. Dataset roots are relative to the data folder given when planning."""

    name: str
    path: Path
    paper: str
    description: str
    layout: str
    seeds: tuple[int, ...]
    train: dict[str, Any]
    scales: dict[str, dict[str, Any]]
    grid: dict[str, tuple[Any, ...]]
    runs: tuple[RunSpec, ...]
    cross: tuple[CrossSpec, ...] = ()
    #: the [generator] table: generator options for every scale, and per scale under its name
    generator: dict[str, Any] = field(default_factory=dict)

    def generator_options(self, scale: str) -> dict[str, Any]:
        """The [generator] options of a scale: the common ones, then the scale's table."""
        common = {k: v for k, v in self.generator.items() if k not in SCALES}
        return {**common, **self.generator.get(scale, {})}

    def run(self, run_id: str) -> RunSpec:
        return next(r for r in self.runs if r.id == run_id)


def _fail(path: Path, msg: str) -> ConfigError:
    return ConfigError(f"{path}: {msg}")


def _table(path: Path, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, f"{where} must be a table, got {value!r}")
    return value


def _text(path: Path, value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"{where} must be text, got {value!r}")
    return value


def _folder_name(path: Path, value: Any, where: str) -> str:
    """A value that names a run folder (experiment name, run id, grid value): one plain path
    component, so that no file can say where outside ``--out`` its runs are written."""
    text = str(value)
    if (not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text
            or Path(text).is_absolute() or text.startswith("~")):
        raise _fail(path, f"{where} {text!r} names a folder, so it must be one plain name "
                          "(no '/', '\\', '..' or absolute path)")
    return text


def _trainer_options(path: Path, options: dict[str, Any], where: str) -> dict[str, Any]:
    options = {k: None if k in UNCAPPED and v == "all" else v for k, v in options.items()}
    try:
        return check_options(TrainConfig, options, "")
    except ConfigError as e:
        raise _fail(path, f"{where}: {e}") from None


def load_experiment(path: str | Path) -> Experiment:
    """Read and check one experiment file: every key of every table, with its type, before
    anything is planned; a mistake names the file and the key.

    Parameters
    ----------
    path
        the TOML file, or the name of an experiment shipped with the package
        (``facefair/experiments/papers/*.toml``, one per paper table; ``facefair experiment list``).
    """
    path = Path(path)
    if not path.is_file() and path.suffix != ".toml" and path.name == str(path):  # a name, not a path
        path = find_experiments().get(str(path), path)  # by [experiment] name, as the command finds it
    if not path.is_file():
        raise ConfigError(f"{path}: no such experiment file")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise _fail(path, f"not valid TOML: {e}") from None
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise _fail(path, f"unknown section(s): {', '.join(sorted(unknown))}")
    head = _table(path, doc.get("experiment", {}), "[experiment]")
    if set(head) - HEAD_KEYS:
        raise _fail(path, f"[experiment]: unknown key(s) {', '.join(sorted(set(head) - HEAD_KEYS))}")
    for key in ("name", "paper"):
        if not head.get(key):
            raise _fail(path, f"[experiment] needs '{key}'")
        _text(path, head[key], f"[experiment] {key}")
    _folder_name(path, head["name"], "[experiment] name")
    description = _text(path, head.get("description", ""), "[experiment] description")
    layout = head.get("layout", "seeds")
    if layout not in LAYOUTS:
        raise _fail(path, f"[experiment] layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    seeds = head.get("seeds", [0, 1, 2])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                            for s in seeds):
        raise _fail(path, "[experiment] seeds must be a list of integers")

    train = _trainer_options(path, _table(path, doc.get("train", {}), "[train]"), "[train]")
    scales, parents = {}, {}
    for scale, options in _table(path, doc.get("scale", {}), "[scale]").items():
        if scale not in SCALES:
            raise _fail(path, f"[scale.{scale}]: scales are {', '.join(SCALES)}")
        options = dict(_table(path, options, f"[scale.{scale}]"))
        if EXTENDS in options:
            parents[scale] = _text(path, options.pop(EXTENDS), f"[scale.{scale}] {EXTENDS}")
        scales[scale] = _trainer_options(path, options, f"[scale.{scale}]")
    lineage = _lineage(path, parents, scales)
    scales = {scale: {k: v for s in reversed(lineage[scale]) for k, v in scales[s].items()} for scale in scales}

    grid = {}
    types = declared_types(TrainConfig)
    for key, values in _table(path, doc.get("grid", {}), "[grid]").items():
        if not isinstance(values, list) or not values:
            raise _fail(path, f"[grid] {key} must be a non-empty list")
        if key not in types or key == "seed":
            raise _fail(path, f"[grid] {key}: not a training option one can vary (seeds go in [experiment])")
        for v in values:
            _folder_name(path, v, f"[grid] {key} value")
        grid[key] = tuple(_trainer_options(path, {key: v}, f"[grid] {key}")[key] for v in values)

    runs = doc.get("run", [])
    if not isinstance(runs, list) or not runs:
        raise _fail(path, "no [[run]] entries")
    specs: list[RunSpec] = []
    for i, run in enumerate(runs, start=1):
        specs.append(_run_spec(path, i, _table(path, run, f"run {i}"), specs, lineage))

    cross = []
    for i, c in enumerate(doc.get("cross", []), start=1):
        c = _table(path, c, f"cross {i}")
        bad = set(c) - CROSS_KEYS
        if bad or "dataset" not in c:
            raise _fail(path, f"cross {i}: " + (f"unknown key(s) {', '.join(sorted(bad))}" if bad
                                               else "needs a 'dataset'"))
        cross.append(CrossSpec(**{k: _text(path, v, f"cross {i} {k}") for k, v in c.items()}))
    generator = _generator(path, doc.get("generator"), specs, grid, lineage)
    return Experiment(head["name"], path, head["paper"], description, layout, tuple(seeds), train, scales, grid,
                      tuple(specs), tuple(cross), generator)


def _lineage(path: Path, parents: dict[str, str], scales: dict[str, Any]) -> dict[str, list[str]]:
    """Per scale, itself then the scales it extends, nearest first (``[scale.full] extends =
    "pretrained"``); an unknown or circular ``extends`` is an error naming the scale."""
    out = {}
    for scale in scales:
        chain = [scale]
        while chain[-1] in parents:
            parent = parents[chain[-1]]
            if parent not in scales:
                raise _fail(path, f"[scale.{chain[-1]}] {EXTENDS} '{parent}': the file has no [scale.{parent}]")
            if parent in chain:
                raise _fail(path, f"[scale.{scale}] {EXTENDS}: a circle ({' -> '.join([*chain, parent])})")
            chain.append(parent)
        out[scale] = chain
    return out


def _inherited(tables: dict[str, dict[str, Any]], lineage: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Per-scale tables (a run's, the generator's) with each scale that has none of its own
    taking the nearest one of the scales it extends."""
    out = dict(tables)
    for scale, chain in lineage.items():
        if scale not in out:
            nearest = next((s for s in chain if s in tables), None)
            if nearest is not None:
                out[scale] = tables[nearest]
    return out


def _generator(path: Path, table: Any, runs: list[RunSpec], grid: dict[str, Any],
               lineage: dict[str, list[str]]) -> dict[str, Any]:
    """The checked [generator] table; runs that name "@generator" need one."""
    from ..generative.config import GeneratorConfig

    users = [r.id for r in runs if r.uses_generator()]
    if table is None:
        if users:
            raise _fail(path, f"run(s) {', '.join(users)} name \"{GENERATOR_REF}\" but the file has no [generator]")
        return {}
    table = dict(_table(path, table, "[generator]"))
    varied = sorted(DATA_KEYS & set(grid))
    if varied:
        raise _fail(path, f"[generator]: one generator cannot serve a grid over {', '.join(varied)}")
    out: dict[str, Any] = {}
    for key, value in table.items():
        where = f"[generator] {key}"
        options = _table(path, value, where) if key in SCALES else {key: value}
        bad = GENERATOR_FIXED & set(options)
        if bad:
            raise _fail(path, f"{where}: {', '.join(sorted(bad))} come(s) from the experiment, not [generator]")
        try:
            checked = check_options(GeneratorConfig, options, "", "generator option")
        except ConfigError as e:
            raise _fail(path, f"{where}: {e}") from None
        if key in SCALES:
            out[key] = checked
        else:
            out.update(checked)
    return {**out, **_inherited({k: v for k, v in out.items() if k in SCALES}, lineage)}


def _run_spec(path: Path, i: int, run: dict[str, Any], earlier: list[RunSpec],
              lineage: dict[str, list[str]]) -> RunSpec:
    bad = set(run) - RUN_KEYS
    if bad or "id" not in run:
        raise _fail(path, f"run {i}: " + (f"unknown key(s) {', '.join(sorted(bad))}" if bad else "needs an 'id'"))
    rid = _folder_name(path, _text(path, run["id"], f"run {i} id"), f"run {i} id")
    where = f"run '{rid}'"
    if any(r.id == rid for r in earlier):
        raise _fail(path, f"run id '{rid}' appears twice")
    label = _text(path, run.get("label", rid), f"{where} label")
    if "choose" in run:
        return RunSpec(rid, label, "choose", choose=_choose(path, run, earlier))
    base = run.get("from")
    if base is not None and base not in [r.id for r in earlier if r.choose is None]:
        raise _fail(path, f"{where}: from '{base}' must name an earlier run")
    method = _text(path, run.get("method", "erm"), f"{where} method")
    options = _table(path, run.get("options", {}), f"{where} options")
    scales, scale_options = {}, {}
    for scale in SCALES:
        if scale not in run:
            continue
        table = run[scale]
        if not isinstance(table, dict) or not isinstance(table.get("options", {}), dict):
            raise _fail(path, f"{where}: {scale} must be a table of trainer options "
                              "(and its method's options as options = { ... })")
        table = dict(table)
        scale_options[scale] = table.pop("options", {})
        scales[scale] = _trainer_options(path, table, f"{where} {scale}")
    scales, scale_options = _inherited(scales, lineage), _inherited(scale_options, lineage)
    train = _trainer_options(path, _table(path, run.get("train", {}), f"{where} train"), f"{where} train")
    evaluate = run.get("evaluate", [])
    if not isinstance(evaluate, list):
        raise _fail(path, f"{where}: evaluate must be a list of method-option tables")
    # every combination of method options it can run with (each scale's, each evaluation's)
    for opts in [options, *({**options, **o} for o in scale_options.values()),
                 *({**options, **_table(path, e, f'{where} evaluate')} for e in evaluate)]:
        try:
            get_method(method, opts)
        except ConfigError as e:
            raise _fail(path, f"{where}: {e}") from None
    spec = RunSpec(rid, label, method, dict(options), base, train, scales, scale_options, tuple(evaluate))
    trained = [r.id for r in earlier if r.choose is None]
    unknown = [r for r in spec.references() if r not in trained]
    if unknown:
        raise _fail(path, f"{where}: options name '@{unknown[0]}', which must be an earlier trained run "
                          f"(or \"{GENERATOR_REF}\"); earlier: {', '.join(trained) or 'none'}")
    return spec


def _choose(path: Path, run: dict[str, Any], earlier: list[RunSpec]) -> Choose:
    where = f"run '{run['id']}': choose"
    c = run["choose"]
    if not isinstance(c, dict):
        raise _fail(path, f"{where} must be a table {{ among = [...], metric = ... }}")
    extra = set(run) - {"id", "label", "choose"}
    if extra:
        raise _fail(path, f"{where} trains nothing, so it takes no {', '.join(sorted(extra))}")
    bad = set(c) - CHOOSE_KEYS
    if bad or "among" not in c or "metric" not in c:
        raise _fail(path, f"{where}: " + (f"unknown key(s) {', '.join(sorted(bad))}" if bad
                                         else "needs 'among' and 'metric'"))
    trained = [r.id for r in earlier if r.choose is None]
    named = c["among"] if isinstance(c["among"], list) else []
    if not named or any(r not in trained for r in named + [c.get("reference", named[0])]):
        raise _fail(path, f"{where}: among and reference must name earlier trained runs (of {', '.join(trained)})")
    if c["metric"] not in METRIC_NAMES:
        raise _fail(path, f"{where}: metric must be one of {', '.join(METRIC_NAMES)}, got {c['metric']!r}")
    within = c.get("accuracy_within", 0.0)
    if not isinstance(within, (int, float)) or isinstance(within, bool) or within < 0:
        raise _fail(path, f"{where}: accuracy_within must be a number >= 0, got {within!r}")
    return Choose(tuple(named), c["metric"], c.get("reference"), float(within))


#: the package folder of the paper tables' experiment files (shipped in the wheel)
PACKAGED = "papers"


def experiment_dir() -> Path:
    """Where the experiment files live: the package's own (``facefair/experiments/papers``,
    read through importlib.resources, so they are found wherever pip put the package), or
    ``$FACEFAIR_EXPERIMENTS``."""
    env = os.environ.get("FACEFAIR_EXPERIMENTS")
    return Path(env) if env else Path(str(resources.files(__package__) / PACKAGED))


def find_experiments(directory: Path | None = None) -> dict[str, Path]:
    """Experiment name -> file, for every ``*.toml`` in the directory."""
    directory = directory or experiment_dir()
    return {load_experiment(p).name: p for p in sorted(directory.glob("*.toml"))}


def resolve(spec: str, directory: Path | None = None) -> list[Experiment]:
    """``all``, an experiment's name, or a path to a TOML file."""
    if spec.endswith(".toml") or Path(spec).is_file():
        return [load_experiment(spec)]
    known = find_experiments(directory)
    if spec == "all":
        return [load_experiment(p) for p in known.values()]
    if spec not in known:
        raise ConfigError(f"no experiment '{spec}'; known: {', '.join(known) or 'none'}")
    return [load_experiment(known[spec])]


def default_data_dir() -> Path:
    return Path(os.environ.get("FACEFAIR_DATA", "../shared/data"))
