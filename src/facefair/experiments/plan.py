"""From a checked experiment to the run folders to make: every run of every seed and grid
value, bases before what they fine-tune, with each run's options stacked (later over
earlier): TrainConfig defaults, the method's ``train_defaults``, the file's ``[train]``,
``[scale.<scale>]``, the run's ``train``, the run's ``<scale>`` table, the grid value, the
``--set`` options, the seed."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import ConfigError
from ..methods import apply_train_defaults, get_method
from ..metrics import LOWER_IS_BETTER
from ..mitigation import mitigation_config
from ..options import check_options
from ..report.tables import fmt_value
from ..runfolder import RunFolder
from .restored import read_restored, run_validation
from .spec import DATA_KEYS, GENERATOR_REF, SCALES, CrossSpec, Experiment


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
        runs = self.among + ([self.reference] if self.reference is not None else [])
        if not all(RunFolder(p.folder).is_evaluated() for p in runs):
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
    cross: list[CrossSpec] = field(default_factory=list)
    grid: dict[str, Any] = field(default_factory=dict)  # this run's grid values (target, arch, ...)
    choice: Choice | None = None
    #: the experiment's generator, where its options name it: (folder, config), trained first
    generator: tuple[Path, Any] | None = None
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
        if kept is not None and all(read_restored(q.folder) is not None and RunFolder(q.folder).is_evaluated()
                                    for q in choice.among):
            chosen = [q for q in choice.among if q.run_id == kept.get("chosen")]
            if chosen:
                return chosen[0], f"{kept['why']} (restored from {kept['archive']})"
        return choice.pick()

    def done(self, metrics_file: str = RunFolder.METRICS) -> bool:
        source = self.source()
        return source is not None and (source / metrics_file).is_file()

    def result(self, metrics_file: str = RunFolder.METRICS) -> str:
        """What the tables read: the run folder, or the path of another evaluation's file."""
        source = self.source()
        assert source is not None, f"{self.folder}: no result yet"
        return str(source if metrics_file == RunFolder.METRICS else source / metrics_file)

    def config(self) -> TrainConfig:
        """The run's full configuration (a fine-tune's needs its base trained first)."""
        if self.base is not None:
            return mitigation_config(self.method, self.base, self.options, **self.overrides)
        get_method(self.method, self.options)  # a wrong name or option fails before training
        cfg = TrainConfig()
        apply_train_defaults(cfg, self.method)
        cfg.override(self.overrides, f"run '{self.run_id}'")
        cfg.method, cfg.method_options = self.method, dict(self.options)
        cfg.validate()
        return cfg


def run_ids(exp: Experiment, runs: list[str] | None = None) -> set[str]:
    """The ``[[run]]`` ids to plan: all, or those named and every run they start from or
    choose among."""
    by_id = {run.id: run for run in exp.runs}
    if runs is None:
        return set(by_id)
    unknown = [r for r in runs if r not in by_id]
    if unknown or not runs:
        raise ConfigError(f"{exp.path}: no run {', '.join(unknown) or '(none named)'} "
                          f"(runs: {', '.join(by_id)})")
    keep: set[str] = set()
    todo = list(runs)
    while todo:
        rid = todo.pop()
        if rid not in keep:
            keep.add(rid)
            todo.extend(by_id[rid].needs())
    return keep


#: more planned runs than this is a question to the user (``--yes``), not a start
PLAN_LIMIT = 2000


def plan(exp: Experiment, scale: str, out: Path, data: Path, seeds: list[int] | None = None,
         only: dict[str, list[str]] | None = None, sets: dict[str, Any] | None = None,
         runs: list[str] | None = None, limit: int | None = PLAN_LIMIT) -> list[PlannedRun]:
    """Every run of every seed (and grid value), bases before what they fine-tune.

    Parameters
    ----------
    scale
        ``cpu``, ``pretrained``, ``gpu`` or ``full``; the file must have ``[scale.<scale>]``.
    out
        the output root; folders are ``out/<experiment>/<scale>/[<grid values>/]<run>-s<seed>``.
    data
        the folder the file's dataset roots are relative to.
    seeds
        instead of the file's seeds.
    only
        keeps the grid values named per key (``--grid target=Smiling``).
    sets
        trainer options over everything in the file, fine-tunes included (``--set
        bf16=false`` on a CPU that only emulates bf16); checked by name and type.
    runs
        keeps the ``[[run]]`` ids named (``--runs erm,reweight``: a table split over
        machines, or its cheap rows first), with the runs those need.
    limit
        the most runs planned without asking (None: no limit); counted before planning.
    """
    sets = check_options(TrainConfig, dict(sets or {}), "--set")
    keep = run_ids(exp, runs)
    for key in sets:
        if key == "seed" or key in exp.grid:
            raise ConfigError(f"--set {key}: use --{'seeds' if key == 'seed' else 'grid'} for {key}")
    if scale not in SCALES:
        raise ConfigError(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if scale not in exp.scales:
        raise ConfigError(f"{exp.path}: no [scale.{scale}] section")
    if "root" in sets:  # relative to the data folder, as the file's root is
        sets["root"] = str(data / sets["root"])
    # the data a --set names is the generator's data too (one generator serves every run)
    common = {**exp.train, **exp.scales[scale], **{k: v for k, v in sets.items() if k in DATA_KEYS}}
    if "root" in common:
        common["root"] = str(data / common["root"])
    cross = [c.under(data) for c in exp.cross]
    grid = dict(exp.grid)
    for key, values in (only or {}).items():
        if key not in grid:
            raise ConfigError(f"{exp.path}: no grid key '{key}' (grid: {', '.join(grid) or 'none'})")
        unknown = [v for v in values if v not in map(str, grid[key])]
        if unknown:
            raise ConfigError(f"{exp.path}: grid {key} has no value {', '.join(unknown)} "
                              f"(values: {', '.join(map(str, grid[key]))})")
        grid[key] = tuple(v for v in grid[key] if str(v) in values)
    keys = list(grid)
    n_seeds = len(seeds if seeds is not None else exp.seeds)
    size = n_seeds * math.prod(len(v) for v in grid.values()) * len(keep)
    if limit is not None and size > limit:
        raise ConfigError(f"{exp.path}: this plan has {size:,} runs ({n_seeds} seeds x "
                          + " x ".join(f"{len(v)} {k}" for k, v in grid.items())
                          + f"{' x ' if grid else ''}{len(keep)} [[run]]s), more than {limit:,}; narrow it with "
                            "--seeds, --grid or --runs, or pass --yes to plan them all")
    combos = list(itertools.product(*(grid[k] for k in keys))) or [()]
    generator = _generator_plan(exp, scale, out, common) if exp.generator else None
    planned: list[PlannedRun] = []
    for seed in seeds if seeds is not None else exp.seeds:
        for combo in combos:
            values = dict(zip(keys, combo))
            where = out / exp.name / scale / "-".join(str(v) for v in combo) if combo else out / exp.name / scale
            made: dict[str, PlannedRun] = {}
            for run in exp.runs:
                if run.id not in keep:
                    continue
                folder = where / f"{run.id}-s{seed}"
                if run.choose is not None:
                    c = run.choose
                    choice = Choice([made[r] for r in c.among], c.metric,
                                    made[c.reference] if c.reference else None, c.accuracy_within)
                    made[run.id] = PlannedRun(folder, run.id, run.label, seed, "choose", {}, {},
                                              grid=values, choice=choice)
                else:
                    over = {**run.trainer_options(scale), **values, **sets, "seed": seed}
                    base = made[run.base].folder if run.base else None
                    if base is None:
                        over = {**common, **over}
                    options = {k: _resolve(v, made, generator) for k, v in run.method_options(scale).items()}
                    made[run.id] = PlannedRun(folder, run.id, run.label, seed, run.method, options, over, base,
                                              list(run.evaluate), cross, values,
                                              generator=generator if run.uses_generator() else None)
                planned.append(made[run.id])
    return planned


def _generator_plan(exp: Experiment, scale: str, out: Path, common: dict[str, Any]) -> tuple[Path, Any]:
    """The experiment's generator at this scale: one folder, seed 0, shared by every seed and
    grid value (an input to the runs, as a pretrained backbone is), trained on the
    experiment's dataset."""
    from ..generative.config import GeneratorConfig

    cfg = GeneratorConfig(dataset=common.get("dataset", "synthetic"), root=common.get("root"),
                          dataset_options=dict(common.get("dataset_options", {})), progress=False,
                          **exp.generator_options(scale))
    if common.get("split_seed") is not None:
        cfg.split_seed = int(common["split_seed"])
    return out / exp.name / scale / "generator", cfg


def _resolve(value: Any, made: dict[str, PlannedRun], generator: tuple[Path, Any] | None) -> Any:
    """A method option with its references replaced: "@generator" by the generator's folder,
    "@<run id>" by that run's folder (same seed and grid values)."""
    if not isinstance(value, str) or not value.startswith("@"):
        return value
    if value == GENERATOR_REF:
        assert generator is not None, "checked when the file was read"
        return str(generator[0])
    return str(made[value[1:]].folder)
