"""``facefair select``: choose among runs and settings on validation metrics only, then report
the choice's test metrics, and how stable the choice is under the seeds' spread.

Why: a choice made on the test split reports an optimistic number; and with three seeds a
setting's validation mean moves as much as methods differ, so a user should know how often
another seed would have chosen otherwise. A setting is ``LABEL=GLOB`` (its runs are seeds);
a bare folder or glob makes each run its own candidate.
"""

from __future__ import annotations

import functools
import glob
import itertools
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .analysis.comparison import validation_collapse
from .errors import ConfigError, DataError
from .experiments.restored import run_validation
from .report.charts import pareto_front
from .report.tables import load_metrics

_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, "<": operator.lt,
                                                   ">": operator.gt}


@dataclass(frozen=True)
class Constraint:
    """``metric op bound`` on a validation metric, e.g. ``equalized_odds_mean<=0.03``."""

    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        m = re.fullmatch(r"\s*([A-Za-z_]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*", text)
        if not m:
            raise ConfigError(f"--constraint takes METRIC<=X (or >=, <, >), got {text!r}")
        try:
            return cls(m.group(1), m.group(2), float(m.group(3)))
        except ValueError:
            raise ConfigError(f"--constraint {text!r}: {m.group(3)!r} is not a number") from None

    def holds(self, value: float | None) -> bool:
        return value is not None and not math.isnan(value) and _OPS[self.op](value, self.bound)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


@dataclass
class Candidate:
    """A setting: its runs (seeds), their validation metrics and test evaluations."""

    label: str
    runs: list[Path]
    val: list[dict[str, Any]]
    test: list[dict[str, Any]]

    @functools.cached_property
    def collapsed(self) -> list[str]:
        """Each seed's collapse on validation (a constant or group answer meets any gap bound)."""
        return [f"{r.name}: {c}" for r, v in zip(self.runs, self.val) if (c := validation_collapse(v))]

    def val_mean(self, metric: str, seeds: list[int] | None = None) -> float:
        rows = [self.val[i] for i in seeds] if seeds is not None else self.val
        vals = [r.get(metric) for r in rows]
        return math.nan if any(v is None for v in vals) or not vals else float(np.mean(vals))


@dataclass
class Selection:
    """The outcome: every candidate, the chosen one, and how often another seed would change it."""

    candidates: list[Candidate]
    objective: str
    maximize: bool
    constraints: list[Constraint]
    chosen: Candidate | None
    feasible: list[str]
    changed_share: float | None = None  # share of one-seed-per-setting draws that choose otherwise
    draws: int = 0
    front: list[str] = field(default_factory=list)  # the validation Pareto front (pareto mode)

    def to_text(self) -> str:
        """The choice as a person reads it: the candidates on validation, then the choice's test result."""
        names = [c.metric for c in self.constraints]
        cols = [self.objective, *[n for n in names if n != self.objective]]
        lines = ["validation (mean over each setting's seeds; the test split took no part):",
                 "| setting | seeds | " + " | ".join(cols) + " | meets the constraints |",
                 "|---|---|" + "---|" * (len(cols) + 1)]
        for c in self.candidates:
            cells = [_fmt(c.val_mean(k)) for k in cols]
            meets = "yes" if c.label in self.feasible else "no" + (" (collapsed)" if c.collapsed else "")
            lines.append(f"| {c.label} | {len(c.runs)} | " + " | ".join(cells) + f" | {meets} |")
        lines.append("")
        for c in self.candidates:
            if c.collapsed:
                lines.append(f"left out, collapsed on validation: {'; '.join(c.collapsed)}")
        goal = f"{'highest' if self.maximize else 'lowest'} validation {self.objective}"
        if self.front:
            lines.append(f"validation Pareto front ({self.objective} against {names[0] if names else '?'}): "
                         + ", ".join(self.front))
        if self.chosen is None:
            lines.append(f"no setting meets {', '.join(map(str, self.constraints))} on validation; nothing is chosen")
            return "\n".join(lines) + "\n"
        how = f" among those meeting {', '.join(map(str, self.constraints))}" if self.constraints else ""
        lines.append(f"chosen: {self.chosen.label} ({goal}{how})")
        lines.append("")
        lines.append("its test metrics (each seed with its bootstrap interval):")
        keys = ["accuracy", "auc", "equalized_odds_mean", "equal_opportunity_diff", "demographic_parity_diff",
                "worst_group_accuracy"]
        for run, doc in zip(self.chosen.runs, self.chosen.test):
            parts = []
            for k in keys:
                v = doc["metrics"].get(k)
                if v is None:
                    continue
                ci = (doc.get("ci") or {}).get(k)
                parts.append(f"{k} {v:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci and None not in ci else ""))
            lines.append(f"  {run}: " + "; ".join(parts))
        if len(self.chosen.test) > 1:
            means = {k: np.mean([d["metrics"][k] for d in self.chosen.test]) for k in keys
                     if all(d["metrics"].get(k) is not None for d in self.chosen.test)}
            lines.append("  mean over seeds: " + "; ".join(f"{k} {v:.4f}" for k, v in means.items()))
        lines.append("")
        if self.changed_share is None:
            lines.append("stability: one run per setting, so the seeds' spread cannot be judged; train more seeds")
        else:
            lines.append(f"stability: choosing on one seed per setting instead of the means picks another setting in "
                         f"{100 * self.changed_share:.0f}% of the {self.draws} draws")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"objective": self.objective, "maximize": self.maximize,
                "constraints": [str(c) for c in self.constraints],
                "chosen": None if self.chosen is None else self.chosen.label,
                "chosen_runs": [] if self.chosen is None else [str(r) for r in self.chosen.runs],
                "feasible": self.feasible, "changed_share": self.changed_share, "draws": self.draws,
                "front": self.front,
                "candidates": [{"label": c.label, "runs": [str(r) for r in c.runs], "validation": c.val,
                                "test": [d["metrics"] for d in c.test]} for c in self.candidates]}


def _fmt(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.4f}"


def candidates(specs: list[str]) -> list[Candidate]:
    """Settings from ``LABEL=GLOB`` (its runs are seeds) or bare folders and globs (a
    candidate per run folder). Every run needs its validation metrics and its test evaluation."""
    out: list[Candidate] = []
    for spec in specs:
        label, _, pattern = spec.partition("=") if "=" in spec and not Path(spec).is_dir() else ("", "", spec)
        found = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_dir())
        if not found:
            raise ConfigError(f"{spec}: no run folders match")
        groups = [(label, found)] if label else [(p.name, [p]) for p in found]
        for name, runs in groups:
            val, test = [], []
            for r in runs:
                try:
                    val.append(run_validation(r))
                except DataError as e:
                    raise DataError(f"{r}: no validation metrics to choose on ({e})") from None
                test.append(load_metrics(r))
            out.append(Candidate(name, runs, val, test))
    labels = [c.label for c in out]
    dup = next((x for x in labels if labels.count(x) > 1), None)
    if dup:
        raise ConfigError(f"two candidates are called {dup!r}; name settings with LABEL=GLOB")
    return out


def _choose(cands: list[Candidate], objective: str, maximize: bool, constraints: list[Constraint],
            seeds: dict[str, list[int]] | None = None) -> tuple[Candidate | None, list[str]]:
    feasible = [c for c in cands if not c.collapsed
                and all(k.holds(c.val_mean(k.metric, seeds and seeds[c.label])) for k in constraints)]
    scored = [(c.val_mean(objective, seeds and seeds[c.label]), c) for c in feasible]
    scored = [(v, c) for v, c in scored if not math.isnan(v)]
    if not scored:
        return None, [c.label for c in feasible]
    best = (max if maximize else min)(scored, key=lambda t: t[0])[1]
    return best, [c.label for c in feasible]


def select(specs: list[str], constraints: list[str] | None = None, maximize: str | None = "accuracy",
           minimize: str | None = None, pareto: bool = False, max_draws: int = 10_000,
           seed: int = 0) -> Selection:
    """Choose the setting with the best validation objective among those meeting the constraints.

    Parameters
    ----------
    specs
        ``LABEL=GLOB`` settings or run folders and globs.
    constraints
        validation bounds, ``METRIC<=X`` (or ``>=``, ``<``, ``>``).
    maximize
        the validation metric to maximise (ignored when ``minimize`` is given).
    minimize
        a validation metric to minimise instead.
    pareto
        also list the validation Pareto front of the objective against the first
        constraint's metric.
    max_draws
        the one-seed-per-setting draws that judge stability (all combinations when fewer).
    seed
        seeds those draws.
    """
    cands = candidates(specs)
    parsed = [Constraint.parse(c) for c in constraints or []]
    objective, up = (minimize, False) if minimize else (maximize or "accuracy", True)
    known = set().union(*(set(v) for c in cands for v in c.val))
    for name in [objective, *[c.metric for c in parsed]]:
        if name not in known:
            raise ConfigError(f"unknown validation metric {name!r} (the runs have: {', '.join(sorted(known))})")
    chosen, feasible = _choose(cands, objective, up, parsed)
    sel = Selection(cands, objective, up, parsed, chosen, feasible)
    if pareto and parsed:
        gap = parsed[0].metric
        live = [c for c in cands if not c.collapsed]
        pts = [(c.val_mean(gap), c.val_mean(objective) if up else -c.val_mean(objective)) for c in live]
        sel.front = [c.label for c, f in zip(live, pareto_front(pts)) if f]
    counts = [len(c.runs) for c in cands]
    if chosen is not None and max(counts) > 1:
        total = math.prod(counts)
        rng = np.random.default_rng(seed)
        draws = (itertools.product(*[range(n) for n in counts]) if total <= max_draws
                 else (tuple(int(rng.integers(n)) for n in counts) for _ in range(max_draws)))
        changed = n = 0
        for pick in draws:
            other, _ = _choose(cands, objective, up, parsed, {c.label: [i] for c, i in zip(cands, pick)})
            changed += other is None or other.label != chosen.label
            n += 1
        sel.changed_share, sel.draws = changed / n, n
    return sel
