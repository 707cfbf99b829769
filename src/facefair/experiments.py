"""``facefair experiment run NAME|FILE|all``: the experiments behind facefair's results, one
TOML file each in ``experiments/``, run seed by seed, resumable, skipping what is done.

A config names a paper table, the task, the runs (each trained from scratch or fine-tuned
``from`` another run of the same seed), the seeds, and scales: ``cpu`` (what this project's
2-core machine runs from scratch, the scale docs/RESULTS.md states), ``pretrained`` (an
ImageNet-pretrained backbone fine-tuned on the same machine) and ``gpu`` (the paper's setting,
exactly). Options stack, later over earlier: TrainConfig defaults, the method's
``train_defaults``, the file's ``[train]``, ``[scale.<scale>]``, the run's ``train``, the run's
``<scale>`` table (its ``options`` table goes over the run's method ``options``), the
``grid`` value (e.g. each target attribute), the seed. Dataset roots are relative to the data
folder (``--data``, default ``$FACEFAIR_DATA`` or ``../shared/data``), never hard-coded.

Folders: ``OUT/<experiment>/<scale>/[<grid value>/]<run id>-s<seed>``. A run whose
``metrics.json`` exists and whose saved config equals the planned one is skipped; one cut
short resumes from its checkpoint; one whose saved config differs is an error (the file was
edited: use another ``--out``). Configs are compared by what they train: a fine-tune's
``init`` folder stands for its base's config, so a run is the same wherever its base lives.
A run not made yet whose config equals a finished run anywhere under ``OUT`` (another
table's baseline, say) is reused: its folder is copied by hard links, not retrained.

A ``[[run]]`` with ``choose`` trains nothing: per seed and grid value it is the one of its
``among`` runs (a hyperparameter sweep) that is best on the validation split by ``metric``,
among those whose validation accuracy is at most ``accuracy_within`` below its ``reference``
run's (the baseline's), or the most accurate on validation where none is. The test split never
takes part; the results name the run each seed chose.

``[[cross]]`` entries evaluate every run on another dataset as well (FineFACE Table 3:
train on FairFace, test on UTKFace, CelebA or a CSV manifest); a cross dataset whose folder
is absent under ``--data`` is skipped with a message.

The results (the paper's layout, mean over seeds; the headline metrics with mean ± sd and the
bootstrap interval; every metric mean ± sd) go to ``OUT/<experiment>/<scale>/results.md``, and
the evaluation documents they were computed from, one per run, to ``results.json`` beside it:
commit that file with the table, and any other aggregate (a mean over other attributes, a
pooled table over two partial runs) can be computed later without the run folders.
``--restore results.json`` fills the run folders not made yet from such an archive (same
experiment, scale and ``--set``; each run's config checked where the archive kept it), so a
table split over machines or sessions is finished without training its done rows again.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_text
from .config import TrainConfig
from .errors import ConfigError, DataError
from .report.paper_tables import LAYOUTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: cpu: from scratch on this project's 2-core machine; pretrained: an ImageNet backbone that
#: installs offline (EfficientNet-Lite0) on the same machine; gpu: the paper's own setting
SCALES = ("cpu", "pretrained", "gpu")
RUN_KEYS = {"id", "label", "method", "options", "from", "train", *SCALES, "evaluate", "choose"}
CHOOSE_KEYS = {"among", "metric", "reference", "accuracy_within"}
TOP_KEYS = {"experiment", "train", "scale", "grid", "run", "cross"}
CROSS_KEYS = {"label", "dataset", "root", "manifest", "target", "protected", "positive", "name", "split"}
VOLATILE = ("progress", "workers", "threads", "device", "weights_used")
#: the metrics a layout's paper reports, for the mean ± sd [interval] table (default: ASAC's)
HEADLINE = {"groups": ("accuracy", "worst_group_accuracy", "accuracy_ratio", "degree_of_bias"),
            "attributes": ("accuracy", "worst_group_accuracy", "tpr", "equal_opportunity_diff", "equalized_odds_sum")}


@dataclass
class Choice:
    """A row picked among finished runs of one seed by their validation metrics (a ``choose``
    entry): the best by ``metric`` among those whose validation accuracy is at most ``within``
    below the ``reference`` run's, else the most accurate; the first listed on a tie. Runs with
    a validation TPR of 0 are left out unless every run has one. Where the window reaches the
    accuracy of answering one class to everyone, the line saying why warns: a candidate that
    finds almost no positive has gaps near 0 by construction and can win."""

    among: list[PlannedRun]
    metric: str
    reference: PlannedRun | None = None
    within: float = 0.0

    def pick(self) -> tuple[PlannedRun, str] | None:
        """The chosen run and a line saying why; None while a run it reads is unfinished."""
        from .metrics import LOWER_IS_BETTER
        from .report.tables import fmt_value

        runs = self.among + ([self.reference] if self.reference is not None else [])
        if not all((p.folder / "metrics.json").is_file() for p in runs):
            return None
        val = [run_validation(p.folder) for p in self.among]
        sign = 1.0 if self.metric in LOWER_IS_BETTER else -1.0
        floor, why, ref_val = -math.inf, "", None
        if self.reference is not None:
            ref_val = run_validation(self.reference.folder)
            ref = ref_val["accuracy"]
            floor = ref - self.within - 1e-12
            why = f", accuracy within {self.within:g} of {self.reference.label}'s {ref:.4f}"
        # A candidate that finds no positive on validation is "fair" by not predicting the
        # target (its gaps are 0 by construction): left out while any other finds some.
        blind = [v.get("tpr") == 0.0 for v in val]
        none_found = all(blind)
        live = [i for i in range(len(val)) if not blind[i]] or list(range(len(val)))
        fit = [i for i in live if val[i]["accuracy"] >= floor]
        if fit:
            i = min(fit, key=lambda i: (math.inf if val[i].get(self.metric) is None else sign * val[i][self.metric], i))
            why = f"best validation {self.metric}{why}"
        else:
            i = max(live, key=lambda i: (val[i]["accuracy"], -i))
            why = f"none has validation accuracy within {self.within:g}: the most accurate"
        if none_found:
            why += "; no candidate finds a positive on validation, so the pick means nothing"
        elif ref_val is not None:
            why += _constant_rule_warning(floor, [ref_val, *val])
        # Every candidate's numbers, so a reader can see whether the pick won by more than noise.
        shown = "; ".join(f"{p.run_id} {fmt_value(v.get(self.metric))} / {v['accuracy']:.4f}"
                          + (" (no positive found)" if blind[k] and not none_found else "")
                          + ("" if v["accuracy"] >= floor else " (out)")
                          for k, (p, v) in enumerate(zip(self.among, val)))
        return self.among[i], f"{why}; validation {self.metric} / accuracy: {shown}"


def _constant_rule_warning(floor: float, val: list[dict[str, Any]]) -> str:
    """A warning where an accuracy floor admits the constant rule's accuracy, read from the
    validation base rate the trainer logs (runs logged before it recorded one: no warning)."""
    rate = next((v["base_rate"] for v in val if v.get("base_rate") is not None), None)
    if rate is None:
        return ""
    constant = max(rate, 1.0 - rate)
    if floor > constant:
        return ""
    return (f"; warning: the window reaches the accuracy of answering one class to everyone "
            f"({constant:.4f} on validation), so a candidate that finds almost no positive can win "
            "by gaps near 0: read the pick's TPR and AUC, or narrow accuracy_within")


@dataclass
class PlannedRun:
    """One run folder to make: trained from scratch (``base`` None) or fine-tuned from ``base``;
    or, with a ``choice``, a row that is one of other runs (nothing to train)."""

    folder: Path
    run_id: str
    label: str
    seed: int
    method: str
    options: dict[str, Any]
    overrides: dict[str, Any]  # trainer options (for a fine-tune: over the base's config)
    base: Path | None = None
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    cross: list[dict[str, Any]] = field(default_factory=list)
    grid: dict[str, Any] = field(default_factory=dict)  # this run's grid values (target, arch, ...)
    choice: Choice | None = None
    # a made pick, kept for the command's run: its candidates are finished and stay so
    _picked: tuple[PlannedRun, str] | None = field(default=None, init=False, repr=False, compare=False)

    def source(self) -> Path | None:
        """The folder holding this row's results: its own, or the chosen run's (None until
        the runs a choice reads are finished)."""
        if self.choice is None:
            return self.folder
        picked = self.pick()
        return picked[0].folder if picked is not None else None

    def pick(self) -> tuple[PlannedRun, str] | None:
        """A choice row's run and why: the pick an archive recorded, while every run it chose
        among is restored from that archive too (their validation logs are gone with their
        folders), else the pick computed from the runs' validation metrics. Made once: a
        table pass asks for it per row and per metric file, and finished runs do not change."""
        assert self.choice is not None, f"{self.folder}: not a choice row"
        if self._picked is None:
            self._picked = self._make_pick(self.choice)
        return self._picked

    def _make_pick(self, choice: Choice) -> tuple[PlannedRun, str] | None:
        kept = read_restored(self.folder)
        if kept is not None and all(read_restored(q.folder) is not None and (q.folder / "metrics.json").is_file()
                                    for q in choice.among):
            chosen = [q for q in choice.among if q.run_id == kept.get("chosen")]
            if chosen:
                return chosen[0], f"{kept['why']} (restored from {kept['archive']})"
        return choice.pick()

    def done(self, metrics_file: str = "metrics.json") -> bool:
        source = self.source()
        return source is not None and (source / metrics_file).is_file()

    def result(self, metrics_file: str = "metrics.json") -> str:
        """What the tables read: the run folder, or the path of another evaluation's file."""
        source = self.source()
        assert source is not None, f"{self.folder}: no result yet"
        return str(source if metrics_file == "metrics.json" else source / metrics_file)

    def config(self) -> TrainConfig:
        """The run's full configuration (a fine-tune's needs its base trained first)."""
        if self.base is not None:
            from .mitigation import mitigation_config

            return mitigation_config(self.method, self.base, self.options, **self.overrides)
        from .methods import apply_train_defaults, get_method

        get_method(self.method, self.options)  # a wrong name or option fails before training
        cfg = TrainConfig()
        apply_train_defaults(cfg, self.method)
        cfg.override(self.overrides, f"run '{self.run_id}'")
        cfg.method, cfg.method_options = self.method, dict(self.options)
        cfg.validate()
        return cfg


@dataclass
class Experiment:
    name: str
    path: Path
    paper: str
    description: str
    layout: str
    seeds: list[int]
    doc: dict[str, Any]

    def plan(self, scale: str, out: Path, data: Path, seeds: list[int] | None = None,
             only: dict[str, list[str]] | None = None, sets: dict[str, Any] | None = None,
             runs: list[str] | None = None) -> list[PlannedRun]:
        """Every run of every seed (and grid value), bases before what they fine-tune.
        ``only`` keeps the grid values named per key (``--grid target=Smiling``); ``sets``
        overrides trainer options of every run, fine-tunes included, over everything in the
        file (``--set bf16=false`` on a CPU that only emulates bf16); ``runs`` keeps the
        ``[[run]]`` ids named (``--runs erm,reweight``: a table split over machines, or its
        cheap rows first), with the bases those fine-tune from."""
        sets = dict(sets or {})
        keep = self.run_ids(runs)
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        for key in sets:
            if key not in known:
                raise ConfigError(f"--set {key}: no such training option (options: {', '.join(sorted(known))})")
            if key == "seed" or key in self.doc.get("grid", {}):
                raise ConfigError(f"--set {key}: use --{'seeds' if key == 'seed' else 'grid'} for {key}")
        if scale not in SCALES:
            raise ConfigError(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
        if scale not in self.doc.get("scale", {}):
            raise ConfigError(f"{self.path}: no [scale.{scale}] section")
        common = {**self.doc.get("train", {}), **self.doc["scale"][scale]}
        if "root" in common:
            common["root"] = str(data / common["root"])
        cross = []
        for c in self.doc.get("cross", []):
            c = dict(c)
            for key in ("root", "manifest"):
                if key in c:
                    c[key] = str(data / c[key])
            cross.append(c)
        grid = dict(self.doc.get("grid", {}))
        for key, values in (only or {}).items():
            if key not in grid:
                raise ConfigError(f"{self.path}: no grid key '{key}' (grid: {', '.join(grid) or 'none'})")
            unknown = [v for v in values if v not in map(str, grid[key])]
            if unknown:
                raise ConfigError(f"{self.path}: grid {key} has no value {', '.join(unknown)} "
                                  f"(values: {', '.join(map(str, grid[key]))})")
            grid[key] = [v for v in grid[key] if str(v) in values]
        keys = list(grid)
        combos = list(itertools.product(*(grid[k] for k in keys))) or [()]
        planned: list[PlannedRun] = []
        for seed in seeds if seeds is not None else self.seeds:
            for combo in combos:
                values = dict(zip(keys, combo))
                where = out / self.name / scale / "-".join(str(v) for v in combo) if combo else out / self.name / scale
                made: dict[str, PlannedRun] = {}
                for run in self.doc["run"]:
                    rid = run["id"]
                    if rid not in keep:
                        continue
                    folder = where / f"{rid}-s{seed}"
                    if "choose" in run:
                        c = run["choose"]
                        choice = Choice([made[r] for r in c["among"]], c["metric"],
                                        made[c["reference"]] if "reference" in c else None,
                                        float(c.get("accuracy_within", 0.0)))
                        made[rid] = PlannedRun(folder, rid, run.get("label", rid), seed, "choose", {}, {},
                                               grid=values, choice=choice)
                        planned.append(made[rid])
                        continue
                    at_scale = dict(run.get(scale, {}))
                    options = {**run.get("options", {}), **at_scale.pop("options", {})}
                    over = {**run.get("train", {}), **at_scale, **values, **sets, "seed": seed}
                    base = None
                    if "from" in run:
                        base = made[run["from"]].folder
                    else:
                        over = {**common, **over}
                    made[rid] = PlannedRun(folder, rid, run.get("label", rid), seed, run.get("method", "erm"),
                                           options, over, base, list(run.get("evaluate", [])),
                                           cross, values)
                    planned.append(made[rid])
        return planned

    def run_ids(self, runs: list[str] | None = None) -> set[str]:
        """The ``[[run]]`` ids to plan: all, or those named and every run they start from or
        choose among."""
        by_id = {run["id"]: run for run in self.doc["run"]}
        if runs is None:
            return set(by_id)
        unknown = [r for r in runs if r not in by_id]
        if unknown or not runs:
            raise ConfigError(f"{self.path}: no run {', '.join(unknown) or '(none named)'} "
                              f"(runs: {', '.join(by_id)})")
        keep: set[str] = set()
        todo = list(runs)
        while todo:
            rid = todo.pop()
            if rid not in keep:
                keep.add(rid)
                todo.extend(_needs(by_id[rid]))
        return keep

    def rows(self, planned: list[PlannedRun], metrics_file: str = "metrics.json",
             split: list[str] | tuple[str, ...] = ()) -> dict[str, list[str]]:
        """Label -> the evaluated runs of every seed (for the tables); with another
        ``metrics_file`` (a cross-dataset evaluation) the paths of those files. Grid keys in
        ``split`` name separate rows (``Base (arch=resnet50)``); the others' runs share a row."""
        return self.seed_units(planned, metrics_file, split)[0]

    def seed_units(self, planned: list[PlannedRun], metrics_file: str = "metrics.json",
                   split: list[str] | tuple[str, ...] = (),
                   average: list[str] | tuple[str, ...] = ()) -> tuple[dict[str, list[Any]], list[str]]:
        """Label -> one entry per seed, for spreads over seeds: the run itself, or, where grid keys
        are ``average``d (FineFACE Table 6's mean over target attributes), the mean document of
        that seed's runs. A seed with some of those runs not evaluated is left out (a mean over
        fewer attributes is another number) and named in the returned notes."""
        from .report.tables import load_metrics, mean_document

        groups: dict[tuple[str, int], list[PlannedRun]] = {}
        for p in planned:
            groups.setdefault((_row_label(p, split), p.seed), []).append(p)
        units: dict[str, list[Any]] = {}
        notes: list[str] = []
        for (label, seed), runs in groups.items():
            done = [p for p in runs if p.done(metrics_file)]
            paths = [p.result(metrics_file) for p in done]
            if not average:
                if paths:
                    units.setdefault(label, []).extend(paths)
            elif len(done) == len(runs):
                units.setdefault(label, []).append(
                    mean_document([load_metrics(x) for x in paths], f"{label}, seed {seed}"))
            elif done:
                notes.append(f"{label}, seed {seed}: {len(done)} of {len(runs)} runs evaluated; "
                             f"left out of the mean ± sd (it averages over {', '.join(average)})")
        return units, notes


def _needs(run: dict[str, Any]) -> list[str]:
    """The runs a ``[[run]]`` entry needs made first: its base, or those it chooses among."""
    c = run.get("choose", {})
    return ([run["from"]] if "from" in run else []) + list(c.get("among", [])) + (
        [c["reference"]] if "reference" in c else [])


def _row_label(p: PlannedRun, split: list[str] | tuple[str, ...]) -> str:
    values = [f"{k}={p.grid[k]}" for k in split if k in p.grid]
    return f"{p.label} ({', '.join(values)})" if values else p.label


def _fail(path: Path, msg: str) -> ConfigError:
    return ConfigError(f"{path}: {msg}")


def parse_set(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as TOML (false, 3, 0.01, "x"); a bare word is a string."""
    key, eq, raw = item.partition("=")
    if not eq or not key.strip() or not raw.strip():
        raise ConfigError(f"--set takes KEY=VALUE, got {item!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


def load_experiment(path: str | Path) -> Experiment:
    """Read and check one experiment file; every mistake names the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such experiment file")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise _fail(path, f"not valid TOML: {e}") from None
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise _fail(path, f"unknown section(s): {', '.join(sorted(unknown))}")
    head = doc.get("experiment", {})
    for key in ("name", "paper"):
        if not head.get(key):
            raise _fail(path, f"[experiment] needs '{key}'")
    layout = head.get("layout", "seeds")
    if layout not in LAYOUTS:
        raise _fail(path, f"[experiment] layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    seeds = head.get("seeds", [0, 1, 2])
    if not seeds or not all(isinstance(s, int) for s in seeds):
        raise _fail(path, "[experiment] seeds must be a list of integers")
    runs = doc.get("run", [])
    if not runs:
        raise _fail(path, "no [[run]] entries")
    seen: set[str] = set()
    for i, run in enumerate(runs, start=1):
        bad = set(run) - RUN_KEYS
        if bad or "id" not in run:
            raise _fail(path, f"run {i}: " + (f"unknown key(s) {', '.join(sorted(bad))}" if bad else "needs an 'id'"))
        if run["id"] in seen:
            raise _fail(path, f"run id '{run['id']}' appears twice")
        if "from" in run and run["from"] not in seen:
            raise _fail(path, f"run '{run['id']}': from '{run['from']}' must name an earlier run")
        if "choose" in run:
            _check_choice(path, run, runs[:i - 1])
        for scale in SCALES:
            if scale in run and (not isinstance(run[scale], dict)
                                 or not isinstance(run[scale].get("options", {}), dict)):
                raise _fail(path, f"run '{run['id']}': {scale} must be a table of trainer options "
                                  "(and its method's options as options = { ... })")
        seen.add(run["id"])
    for key, values in doc.get("grid", {}).items():
        if not isinstance(values, list) or not values:
            raise _fail(path, f"[grid] {key} must be a non-empty list")
    for i, c in enumerate(doc.get("cross", []), start=1):
        bad = set(c) - CROSS_KEYS
        if bad or "dataset" not in c:
            raise _fail(path, f"cross {i}: " + (f"unknown key(s) {', '.join(sorted(bad))}" if bad
                                               else "needs a 'dataset'"))
    for scale in doc.get("scale", {}):
        if scale not in SCALES:
            raise _fail(path, f"[scale.{scale}]: scales are {', '.join(SCALES)}")
    return Experiment(head["name"], path, head["paper"], head.get("description", ""), layout, list(seeds), doc)


def _check_choice(path: Path, run: dict[str, Any], earlier: list[dict[str, Any]]) -> None:
    from .metrics import METRIC_NAMES

    where = f"run '{run['id']}': choose"
    c = run["choose"]
    if not isinstance(c, dict):
        raise _fail(path, f"{where} must be a table {{ among = [...], metric = ... }}")
    extra = set(run) - {"id", "label", "choose"}
    if extra:
        raise _fail(path, f"{where} trains nothing, so it takes no {', '.join(sorted(extra))}")
    bad = set(c) - CHOOSE_KEYS
    if bad or "among" not in c or "metric" not in c:
        raise _fail(path, f"{where}: " + (f"unknown key(s) {', '.join(sorted(bad))}" if bad else "needs 'among' and 'metric'"))
    trained = {r["id"] for r in earlier if "choose" not in r}
    named = c["among"] if isinstance(c["among"], list) else []
    if not named or any(r not in trained for r in named + [c.get("reference", named[0])]):
        raise _fail(path, f"{where}: among and reference must name earlier trained runs (of {', '.join(trained)})")
    if c["metric"] not in METRIC_NAMES:
        raise _fail(path, f"{where}: metric must be one of {', '.join(METRIC_NAMES)}, got {c['metric']!r}")
    within = c.get("accuracy_within", 0.0)
    if not isinstance(within, (int, float)) or isinstance(within, bool) or within < 0:
        raise _fail(path, f"{where}: accuracy_within must be a number >= 0, got {within!r}")


def experiment_dir() -> Path:
    """Where the repository's experiment files live (``$FACEFAIR_EXPERIMENTS`` overrides)."""
    env = os.environ.get("FACEFAIR_EXPERIMENTS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "experiments"


def find_experiments(directory: Path | None = None) -> dict[str, Path]:
    """Experiment name -> file, for every ``*.toml`` in the directory."""
    directory = directory or experiment_dir()
    found = {}
    for p in sorted(directory.glob("*.toml")):
        found[load_experiment(p).name] = p
    return found


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


def identity(cfg: TrainConfig, depth: int = 0) -> dict[str, Any]:
    """What a config trains: its fields less the volatile ones, a fine-tune's ``init`` folder
    replaced by that base's own identity (so moving or reusing a base keeps it the same), and
    the method's options with their defaults filled in."""
    from .methods import get_method

    d = cfg.to_dict()
    for key in VOLATILE:
        d.pop(key, None)
    # every option spelled out: {} and {"order": "ascending"} (the default) train the same
    d["method_options"] = dataclasses.asdict(get_method(cfg.method, cfg.method_options).options)
    init = Path(d["init"]) / "config.json" if d.get("init") else None
    if init is not None and init.is_file() and depth < 8:
        d["init"] = identity(TrainConfig.load(init), depth + 1)
    # in JSON's shapes (tuples as lists), so an identity read back from an archive compares equal
    return json.loads(json.dumps(d))


def find_same(root: Path, cfg: TrainConfig, skip: Path) -> Path | None:
    """A finished run folder under ``root`` that trained exactly ``cfg`` (not ``skip``)."""
    want = identity(cfg)
    for saved in sorted(root.rglob("config.json")) if root.is_dir() else []:
        folder = saved.parent
        if folder == skip or not (folder / "metrics.json").is_file():
            continue
        try:
            if identity(TrainConfig.load(saved)) == want:
                return folder
        except ConfigError:
            continue
    return None


def link_copy(src: Path, dst: Path) -> None:
    """Copy a run folder by hard links (a copy where linking fails), then rename into place."""
    tmp = dst.with_name(f".{dst.name}.reuse")
    shutil.rmtree(tmp, ignore_errors=True)
    for path in sorted(src.rglob("*")):
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


def execute(run: PlannedRun, progress: bool, log: Any, pool: Path | None = None) -> str:
    """Make one run folder: 'done' (skipped), 'reused', 'resumed' or 'trained'; then its
    evaluations. ``pool`` is where finished runs may be reused from."""
    from .evaluation import evaluate, options_tag, output_names
    from .trainer import train

    if read_restored(run.folder) is not None and (run.folder / "metrics.json").is_file():
        return "restored"  # its evaluations are the archive's (and a restored base has no config to plan from)
    cfg = run.config()
    cfg.progress = progress
    saved = run.folder / "config.json"
    status = "trained"
    if saved.is_file():
        if identity(TrainConfig.load(saved)) != identity(cfg):
            raise ConfigError(f"{run.folder}: its config.json differs from the experiment's plan "
                              "(the experiment file changed?); remove the folder or use another --out")
        status = "done" if (run.folder / "metrics.json").is_file() else "resumed"
    elif pool is not None and (same := find_same(pool, cfg, run.folder)) is not None:
        link_copy(same, run.folder)
        log(f"reusing {same} (same config)")
        status = "reused"
    if status in ("trained", "resumed"):
        train(cfg, run.folder, resume=status == "resumed", log=log)
        evaluate(run.folder, progress=progress, log=log)
    for opts in run.evaluations:
        if not (run.folder / output_names("test", options_tag(opts))[1]).is_file():
            evaluate(run.folder, progress=progress, log=log, method_options=opts)
    for c in run.cross:
        cross_evaluate(run.folder, c, progress, log)
    return status


def cross_file(c: dict[str, Any]) -> str:
    """The metrics file a ``[[cross]]`` entry writes in each run folder."""
    from .evaluation import cross_tag, output_names

    return output_names(c.get("split", "test"), cross_tag(c["dataset"], c.get("name")))[1]


def cross_evaluate(folder: Path, c: dict[str, Any], progress: bool, log: Any) -> None:
    """One ``[[cross]]`` evaluation of a finished run, unless done or its data are absent."""
    from .evaluation import evaluate_on

    source = c.get("manifest") or c.get("root")
    if source is not None and not Path(source).exists():
        log(f"skipping cross-dataset evaluation on {c['dataset']}: {source} not found")
        return
    if (folder / cross_file(c)).is_file():
        return
    evaluate_on(folder, c["dataset"], c.get("root"), c.get("target"), c.get("protected"), c.get("positive"),
                c.get("split", "test"), {"manifest": c["manifest"]} if "manifest" in c else None, c.get("name"),
                progress=progress, log=log)


RESTORED = "restored.json"


def read_restored(folder: Path) -> dict[str, Any] | None:
    """The record a restored run folder (or choice row) keeps of its archive, or None."""
    path = folder / RESTORED
    if not path.is_file():
        return None
    try:
        kept = json.loads(path.read_text())
    except ValueError:
        raise DataError(f"{path}: not JSON (remove the folder and restore again)") from None
    if not isinstance(kept, dict) or "archive" not in kept:
        raise DataError(f"{path}: no 'archive' key (remove the folder and restore again)")
    return kept


def run_validation(folder: Path) -> dict[str, Any]:
    """The validation metrics of a run's selected epoch: its log's, or for a restored run the
    archive's copy (a choice reads these; the test split never takes part)."""
    from .trainer import best_validation

    kept = read_restored(folder)
    if kept is None:
        return best_validation(folder)
    if not kept.get("validation"):
        raise DataError(f"{folder / RESTORED}: the archive {kept['archive']} kept no validation metrics for "
                        "this run (written before archives kept them), so no choice can read them")
    return dict(kept["validation"])


#: identity keys a restore does not compare: where the data and cache lie on each machine, and a
#: fine-tune's base (a run of its own, compared where it is restored or trained)
MACHINE_KEYS = ("root", "cache", "init")


def _same_training(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two run identities train the same, wherever each machine keeps its data. A key one of
    them lacks (an archive written before the option existed) counts at its default value."""
    defaults = {k: v for k, v in json.loads(json.dumps(TrainConfig().to_dict())).items() if k not in VOLATILE}
    return ({k: v for k, v in {**defaults, **a}.items() if k not in MACHINE_KEYS}
            == {k: v for k, v in {**defaults, **b}.items() if k not in MACHINE_KEYS})


def restore_archive(exp: Experiment, planned: list[PlannedRun], path: str | Path, scale: str,
                    sets: dict[str, Any] | None = None, log: Any = print) -> int:
    """Fill the run folders not made yet from a ``results.json`` archive of the same
    experiment, scale and ``--set`` options, so a table split over machines or sessions is
    finished without training its done rows again. A restored folder holds the archived
    evaluation documents (``metrics.json``, cross-dataset files) and ``restored.json``; it
    has no checkpoint, so nothing is evaluated there again. Choice rows take the archive's
    pick while all their candidates are restored; a base whose fine-tune is not in the archive
    is trained, not restored (the fine-tune needs its weights). Returns how many folders were
    restored."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable results.json archive ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise DataError(f"{path}: not a results.json archive (no 'runs' list)")
    want = {"experiment": exp.name, "scale": scale, "set": dict(sets or {})}
    have = {"experiment": doc.get("experiment"), "scale": doc.get("scale"), "set": doc.get("set", {})}
    if have != want:
        diff = ", ".join(f"{k} {have[k]!r} (here {want[k]!r})" for k in want if have[k] != want[k])
        raise ConfigError(f"{path}: archive of another plan: {diff}")
    records: dict[tuple[str, int, str], dict[str, Any]] = {}
    for i, r in enumerate(doc["runs"], start=1):
        try:
            key = (r["run"], int(r["seed"]), json.dumps(r.get("grid", {}), sort_keys=True))
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: run record {i} lacks run, seed or grid") from None
        records[key] = r

    def record(p: PlannedRun) -> dict[str, Any] | None:
        return records.get((p.run_id, p.seed, json.dumps(p.grid, sort_keys=True)))

    # A base whose fine-tune still has to train is trained too: a restored folder has no weights.
    must_train = {p.base for p in reversed(planned)  # fine-tunes after their bases: walk back
                  if p.base is not None and p.choice is None and not (p.folder / "metrics.json").is_file()
                  and (record(p) is None or p.folder.exists())}
    for p in reversed(planned):
        if p.folder in must_train and p.base is not None:
            must_train.add(p.base)
    restored = 0
    for p in planned:  # runs before the choice rows that read them
        r = record(p)
        if (r is None or p.choice is not None or (p.folder / "metrics.json").is_file() or p.folder.exists()
                or p.folder in must_train):
            continue
        if r.get("method") != p.method or "metrics" not in r:
            raise DataError(f"{path}: run {p.run_id} seed {p.seed}: archived method {r.get('method')!r}, "
                            f"planned {p.method!r}")
        if r.get("identity") is not None:
            try:
                planned_identity = identity(p.config())
            except ConfigError:
                planned_identity = None  # a fine-tune whose base is restored: compared without it
            if planned_identity is not None and not _same_training(planned_identity, r["identity"]):
                raise ConfigError(f"{path}: run {p.run_id} seed {p.seed} was trained with another config "
                                  "than the experiment file plans now (the file changed?)")
        tmp = p.folder.with_name(f".{p.folder.name}.restore")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        write_text(tmp / "metrics.json", json.dumps(r["metrics"], indent=1) + "\n")
        for name, cdoc in (r.get("cross") or {}).items():
            write_text(tmp / name, json.dumps(cdoc, indent=1) + "\n")
        write_text(tmp / RESTORED, json.dumps({"archive": str(path), "validation": r.get("validation"),
                                                "identity": r.get("identity")}, indent=1) + "\n")
        os.replace(tmp, p.folder)
        restored += 1
    for p in planned:
        r = record(p)
        if (r is None or p.choice is None or r.get("method") != "choose" or read_restored(p.folder) is not None
                or not all(read_restored(q.folder) is not None for q in p.choice.among)):
            continue
        p.folder.mkdir(parents=True, exist_ok=True)
        write_text(p.folder / RESTORED, json.dumps({"archive": str(path), "chosen": r["chosen"], "why": r["why"]},
                                                   indent=1) + "\n")
    log(f"restored {restored} run folder(s) from {path}")
    return restored


def run_experiment(exp: Experiment, out: str | Path, scale: str = "cpu", data: str | Path | None = None,
                   seeds: list[int] | None = None, dry_run: bool = False, progress: bool = True,
                   log: Any = print, only: dict[str, list[str]] | None = None,
                   sets: dict[str, Any] | None = None, runs: list[str] | None = None,
                   restore: list[str | Path] | None = None) -> Path:
    """Run (or resume) every planned run, then write the results tables; returns their path.
    ``restore``: results.json archives whose runs fill the folders not made yet."""
    out = Path(out)
    data = Path(data) if data is not None else default_data_dir()
    planned = exp.plan(scale, out, data, seeds, only, sets, runs)
    if not dry_run:
        for archive_path in restore or []:
            restore_archive(exp, planned, archive_path, scale, sets, log)
    changed = f", with {', '.join(f'{k}={v}' for k, v in sets.items())} over the file" if sets else ""
    make = [p for p in planned if p.choice is None]  # a chosen row is made of these
    log(f"{exp.name} ({exp.paper}, scale {scale}{changed}): {len(make)} run(s) in {out / exp.name / scale}")
    if dry_run:
        for p in make:
            state = "done" if (p.folder / "metrics.json").is_file() else "to run"
            state = "restored" if state == "done" and read_restored(p.folder) is not None else state
            if state == "to run" and not (p.folder / "config.json").is_file():
                try:
                    same = find_same(out, p.config(), p.folder)
                except ConfigError:  # a fine-tune whose base is not trained yet
                    same = None
                state = f"reuse {same}" if same is not None else state
            src = f" from {p.base.name}" if p.base else ""
            log(f"  {p.folder}  {p.method}{src}  [{state}]")
        return out / exp.name / scale / "results.md"
    for i, p in enumerate(make, start=1):
        status = execute(p, progress, log, pool=out)
        log(f"[{i}/{len(make)}] {p.folder}: {status}")
    return write_results(exp, planned, out / exp.name / scale / "results.md", scale, sets)


def run_warnings(planned: list[PlannedRun], keys: list[str]) -> list[str]:
    """Each evaluated run's metric warnings, named by row and seed: a seed whose model
    predicts one class for every image has gaps of 0 that pull a mean down, and a reader of
    the mean must be told which seed that was. A warning several runs share is one line naming
    them all (FineFACE Table 2's race x gender groups each hold one class on every run)."""
    from .report.tables import load_metrics

    where: dict[str, dict[str, list[int]]] = {}  # warning -> row label -> seeds
    for p in planned:
        if p.choice is None and p.done():  # a chosen row's warnings are its run's
            for w in load_metrics(p.folder).get("warnings", []):
                where.setdefault(w, {}).setdefault(_row_label(p, keys), []).append(p.seed)
    return ["; ".join(f"{label}, seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, sorted(seeds)))}"
                      for label, seeds in rows.items()) + f": {w}" for w, rows in where.items()]


def choice_notes(planned: list[PlannedRun], keys: list[str]) -> list[str]:
    """One line per chosen row and grid value: the run each seed chose and by what rule."""
    lines: dict[str, list[str]] = {}
    for p in planned:
        picked = p.pick() if p.choice is not None else None
        if picked is not None:
            lines.setdefault(_row_label(p, keys), []).append(f"seed {p.seed} {picked[0].run_id} ({picked[1]})")
    return [f"{label} chose on validation: {'; '.join(seeds)}" for label, seeds in lines.items()]


def write_results(exp: Experiment, planned: list[PlannedRun], path: Path, scale: str,
                  sets: dict[str, Any] | None = None) -> Path:
    """The paper-layout table and the seed table of the evaluated runs, as markdown. Grid
    values give separate rows (each backbone of ASAC Table 3), except those a layout handles
    itself: ``asac`` prints one table per target, ``attributes`` averages over targets (so
    its spread over seeds is that of the per-seed means over attributes)."""
    from .report.tables import PAPER_ORDER, interval_table, seed_table

    varying = [k for k in exp.doc.get("grid", {}) if len({str(p.grid.get(k)) for p in planned}) > 1]
    own = {"asac": ("target",), "attributes": ("target",)}.get(exp.layout, ())
    split = [k for k in varying if k not in own]
    average = [k for k in varying if k in own] if exp.layout == "attributes" else []
    per_row = split + [k for k in varying if k in own and k not in average]  # asac: targets as rows here
    rows = exp.rows(planned, split=split)
    units, notes = exp.seed_units(planned, split=per_row, average=average)
    notes += choice_notes(planned, varying) + run_warnings(planned, varying)
    layout = LAYOUTS[exp.layout]
    headline = HEADLINE.get(exp.layout, PAPER_ORDER)
    seeds = sorted({p.seed for p in planned})
    over = "seeds" + (f" (each seed's value and interval averaged over {', '.join(average)})" if average else "")
    text = (f"# {exp.paper}: {exp.name} ({scale} scale)\n\n{exp.description.strip()}\n\n"
            f"Seeds {', '.join(map(str, seeds))}; values are means over seeds (and over target attributes "
            "where the layout says so). Experiment file: "
            f"`experiments/{exp.path.name}`"
            + (f", run with {' '.join(f'--set {k}={v}' for k, v in sets.items())} over it" if sets else "")
            + f".\n\n{layout(rows)}\n"
            f"## Headline metrics: mean ± sd over {over} [mean of the seeds' 95% test bootstrap intervals]\n\n"
            f"{interval_table(units, headline)}\n" + "".join(f"- {n}\n" for n in notes) + ("\n" if notes else ""))
    for c in exp.doc.get("cross", []):
        crows = exp.rows(planned, cross_file(c), split=split)
        if crows:
            cunits, _ = exp.seed_units(planned, cross_file(c), split=per_row, average=average)
            text += (f"## Cross-dataset: {c.get('label', c['dataset'])} (trained on {exp.doc['train'].get('dataset')}, "
                     f"tested on {c['dataset']} {c.get('split', 'test')})\n\n{layout(crows)}\n"
                     f"{interval_table(cunits, headline)}\n")
    text += f"## Every metric, mean ± sd over {over}\n\n{seed_table(units)}"
    write_text(path, text)
    write_text(path.with_suffix(".json"), json.dumps(archive(exp, planned, scale, sets), indent=1) + "\n")
    return path


def archive(exp: Experiment, planned: list[PlannedRun], scale: str,
            sets: dict[str, Any] | None = None) -> dict[str, Any]:
    """The evaluation documents behind the results tables, one per evaluated run, with what
    identifies the run (row label, seed, method, grid values) and its cross-dataset documents:
    run folders are scratch (a fresh machine has none), this is the record that is kept."""
    from .report.tables import load_metrics

    runs = []
    for p in planned:
        if not p.done():
            continue
        if p.choice is not None:  # the record of a choice: which run, not a copy of its documents
            picked = p.pick()
            assert picked is not None
            kept = read_restored(p.folder)  # a restored pick keeps its own words, not "restored from"
            why = picked[1].removesuffix(f" (restored from {kept['archive']})") if kept is not None else picked[1]
            runs.append({"run": p.run_id, "label": p.label, "seed": p.seed, "method": "choose", "grid": p.grid,
                         "chosen": picked[0].run_id, "why": why})
            continue
        cross = {name: load_metrics(p.folder / name) for name in map(cross_file, exp.doc.get("cross", []))
                 if (p.folder / name).is_file()}
        kept = read_restored(p.folder)
        entry = {"run": p.run_id, "label": p.label, "seed": p.seed, "method": p.method, "grid": p.grid,
                 "folder": p.folder.relative_to(p.folder.parents[1 if p.grid else 0]).as_posix(),
                 "metrics": load_metrics(p.folder), "cross": cross}
        if kept is not None:  # a restored run's record is carried over as it was
            entry.update({k: kept[k] for k in ("validation", "identity") if kept.get(k) is not None})
        else:
            try:
                entry["validation"] = run_validation(p.folder)
            except DataError:
                pass  # a run folder made before validation was logged
            if (p.folder / "config.json").is_file():
                entry["identity"] = identity(TrainConfig.load(p.folder / "config.json"))
        runs.append(entry)
    return {"experiment": exp.name, "paper": exp.paper, "scale": scale, "set": dict(sets or {}), "runs": runs}

