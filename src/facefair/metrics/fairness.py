"""Every fairness metric of the SPEC table, computed from per-group confusion counts.

Why counts: all SPEC metrics are functions of the (group, y, pred) cell counts, so one
``np.bincount`` pass turns a million predictions into a (G, 2, 2) table, and a bootstrap
replicate is just a multinomial draw of that table (exactly the distribution of the
counts of n rows resampled with replacement), which makes confidence intervals cheap.

Conventions (../shared/SPEC.md): fractions are stored, "gap" is max - min over groups,
degree of bias is the sample standard deviation (ddof=1) of group accuracies, and a group
whose TPR (or FPR) is undefined is reported and left out of that gap, never dropped silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from .groups import group_codes

#: SPEC names of the scalar metrics, in the order reports print them.
METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "demographic_parity_diff",
    "equal_opportunity_diff",
    "equalized_odds_mean",
    "equalized_odds_sum",
    "best_group_accuracy",
    "worst_group_accuracy",
    "accuracy_ratio",
    "degree_of_bias",
    "tpr",
    "best_group_tpr",
    "worst_group_tpr",
)

#: Metrics where smaller is fairer/better (reports use this to mark arrows).
LOWER_IS_BETTER = frozenset(
    {"demographic_parity_diff", "equal_opportunity_diff", "equalized_odds_mean",
     "equalized_odds_sum", "accuracy_ratio", "degree_of_bias"}
)

PER_GROUP_NAMES: tuple[str, ...] = ("accuracy", "selection_rate", "tpr", "fpr")


def _binary(values: Sequence[Any] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{what} must be 0/1 numbers, got values of type {arr.dtype}")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{what} must be 0 or 1; row {i} has {arr[i]!r}")
    return arr.astype(np.int8, copy=False)  # 1 byte a row: 10^8 predictions stay small


@dataclass(frozen=True)
class GroupCounts:
    """Confusion counts per group: ``counts[g, y, pred]``."""

    counts: np.ndarray
    groups: list[str]

    @classmethod
    def from_predictions(cls, y: Sequence[Any] | np.ndarray, pred: Sequence[Any] | np.ndarray,
                         group: Sequence[Any] | np.ndarray) -> GroupCounts:
        y_arr, p_arr = _binary(y, "y"), _binary(pred, "pred")
        g_arr, names = group_codes(group, "group")
        if not (len(y_arr) == len(p_arr) == len(g_arr)):
            raise DataError(f"y, pred and group differ in length: {len(y_arr)}, {len(p_arr)}, {len(g_arr)}")
        if len(y_arr) == 0:
            raise DataError("no predictions to compute metrics on")
        cell = g_arr.astype(np.int32) * 4
        cell += y_arr * 2
        cell += p_arr
        flat = np.bincount(cell, minlength=4 * len(names))
        return cls(flat.reshape(len(names), 2, 2), names)


def _gap(values: np.ndarray) -> np.ndarray:
    """max - min over the last axis, ignoring undefined (NaN) groups; NaN below two defined."""
    defined = np.sum(~np.isnan(values), axis=-1)
    with np.errstate(invalid="ignore"), _quiet_nan():
        gap = np.nanmax(values, axis=-1) - np.nanmin(values, axis=-1)
    return np.where(defined >= 2, gap, np.nan)


class _quiet_nan:
    """Silence numpy's all-NaN-slice RuntimeWarnings (NaN is the intended answer)."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def per_group_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group rates for counts of shape (..., G, 2, 2); undefined rates are NaN."""
    c = counts.astype(np.float64)
    n = c.sum(axis=(-1, -2))
    pos = c[..., 1, 0] + c[..., 1, 1]
    neg = c[..., 0, 0] + c[..., 0, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "n": n,
            "n_pos": pos,
            "n_neg": neg,
            "accuracy": (c[..., 0, 0] + c[..., 1, 1]) / n,
            "selection_rate": (c[..., 0, 1] + c[..., 1, 1]) / n,
            "tpr": c[..., 1, 1] / pos,
            "fpr": c[..., 0, 1] / neg,
        }


def metrics_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """All SPEC scalar metrics for counts of shape (..., G, 2, 2), vectorised over '...'."""
    g = per_group_from_counts(counts)
    c = counts.astype(np.float64)
    tp_all = c[..., 1, 1].sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"), _quiet_nan():
        acc_g = g["accuracy"]
        best_acc, worst_acc = np.nanmax(acc_g, -1), np.nanmin(acc_g, -1)
        tpr_gap, fpr_gap = _gap(g["tpr"]), _gap(g["fpr"])
        n_defined = np.sum(~np.isnan(acc_g), axis=-1)
        dob = np.where(n_defined >= 2, np.nanstd(acc_g, axis=-1, ddof=1), np.nan)
        return {
            "accuracy": (c[..., 0, 0] + c[..., 1, 1]).sum(-1) / g["n"].sum(-1),
            "demographic_parity_diff": _gap(g["selection_rate"]),
            "equal_opportunity_diff": tpr_gap,
            "equalized_odds_mean": (tpr_gap + fpr_gap) / 2,
            "equalized_odds_sum": tpr_gap + fpr_gap,
            "best_group_accuracy": best_acc,
            "worst_group_accuracy": worst_acc,
            "accuracy_ratio": best_acc / worst_acc,
            "degree_of_bias": dob,
            "tpr": tp_all / g["n_pos"].sum(-1),
            "best_group_tpr": np.nanmax(g["tpr"], -1),
            "worst_group_tpr": np.nanmin(g["tpr"], -1),
        }


def _num(x: float) -> float | None:
    """A JSON-safe float: NaN becomes None."""
    x = float(x)
    return None if math.isnan(x) else x


@dataclass
class FairnessReport:
    """The metrics of one set of predictions: overall values, per-group rows, intervals."""

    overall: dict[str, float]
    groups: list[dict[str, Any]]
    n: int
    ci: dict[str, tuple[float, float]] | None = None
    ci_level: float | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; undefined values become null."""
        out: dict[str, Any] = {
            "n": self.n,
            "metrics": {k: _num(v) for k, v in self.overall.items()},
            "groups": [{k: (_num(v) if isinstance(v, float) else v) for k, v in row.items()}
                       for row in self.groups],
            "warnings": list(self.warnings),
        }
        if self.ci is not None:
            out["ci"] = {k: [_num(lo), _num(hi)] for k, (lo, hi) in self.ci.items()}
            out["ci_level"] = self.ci_level
        return out

    def format_table(self, percent: bool = False) -> str:
        """A plain-text table: scalar metrics (with intervals) then per-group rows."""
        scale = 100.0 if percent else 1.0

        def fmt(name: str, v: float) -> str:
            if math.isnan(v):
                return "undefined"
            if name in ("accuracy_ratio", "auc"):
                return f"{v:.3f}"
            return f"{v * scale:.2f}" if percent else f"{v:.4f}"

        lines = [f"n = {self.n}"]
        width = max(len(k) for k in self.overall)
        for k, v in self.overall.items():
            row = f"  {k:<{width}}  {fmt(k, v):>10}"
            if self.ci is not None and k in self.ci:
                lo, hi = self.ci[k]
                row += f"   [{fmt(k, lo)}, {fmt(k, hi)}]"
            lines.append(row)
        gw = max(8, max(len(r["group"]) for r in self.groups))
        lines.append("")
        cols = PER_GROUP_NAMES + (("auc",) if all("auc" in r for r in self.groups) else ())
        head = {"selection_rate": "sel.rate"}
        lines.append(f"  {'group':<{gw}}  {'n':>7}  " + "  ".join(f"{head.get(k, k):>9}" for k in cols))
        for r in self.groups:
            lines.append(f"  {r['group']:<{gw}}  {r['n']:>7d}  " + "  ".join(f"{fmt(k, r[k]):>9}" for k in cols))
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)


def fairness_report(
    y: Sequence[Any] | np.ndarray,
    pred: Sequence[Any] | np.ndarray,
    group: Sequence[Any] | np.ndarray,
    *,
    n_boot: int = 0,
    ci_level: float = 0.95,
    seed: int = 0,
    source: str | None = None,
    score: Sequence[float] | np.ndarray | None = None,
) -> FairnessReport:
    """Every SPEC metric of one set of predictions (and optional percentile-bootstrap intervals).

    Parameters
    ----------
    y
        true labels (0/1).
    pred
        predicted labels (0/1).
    group
        the protected group of each row, any hashable labels (for intersections, join the
        attributes first, see :func:`intersect`).
    n_boot
        bootstrap replicates for the intervals (0: none).
    ci_level
        the intervals' level.
    seed
        the bootstrap's seed.
    source
        names the input in error messages.
    score
        the model's probability of class 1; adds the threshold-free ROC AUC, overall
        (``auc``) and per group, which tells a shifted threshold from a model that lost the target.
    """
    from .ranking import group_auc, roc_auc

    counts = GroupCounts.from_predictions(y, pred, group)
    s = None if score is None else np.asarray(score, dtype=np.float64)
    if s is not None and len(s) != counts.counts.sum():
        raise DataError(f"score has {len(s)} values but there are {counts.counts.sum()} predictions")
    ranked = s is not None and not np.isnan(s).any()
    report = report_from_counts(counts, n_boot=n_boot, ci_level=ci_level, seed=seed, source=source,
                                auc=roc_auc(y, s) if ranked else None)
    if ranked:
        per_group = group_auc(y, s, group)
        for row in report.groups:
            row["auc"] = per_group[row["group"]]
    elif s is not None:
        report.warnings.append("some scores are missing: the ROC AUC is left out")
    return report


def report_from_counts(counts: GroupCounts, *, n_boot: int = 0, ci_level: float = 0.95,
                       seed: int = 0, source: str | None = None, auc: float | None = None) -> FairnessReport:
    """:func:`fairness_report` from precomputed counts (``auc``: the scores' ROC AUC, if known)."""
    where = f"{source}: " if source else ""
    if len(counts.groups) < 2:
        raise DataError(f"{where}only one protected group ({counts.groups[0]!r}); "
                        "fairness metrics compare at least two groups")
    overall = {k: float(v) for k, v in metrics_from_counts(counts.counts).items()}
    if auc is not None:
        overall["auc"] = auc
    pg = per_group_from_counts(counts.counts)
    rows = []
    warnings: list[str] = []
    for i, name in enumerate(counts.groups):
        rows.append({"group": name, "n": int(pg["n"][i]), "n_pos": int(pg["n_pos"][i]),
                     "n_neg": int(pg["n_neg"][i]),
                     **{k: float(pg[k][i]) for k in PER_GROUP_NAMES}})
        if pg["n_pos"][i] == 0:
            warnings.append(f"group {name!r} has no positives: its TPR is undefined and "
                            "left out of TPR gaps")
        if pg["n_neg"][i] == 0:
            warnings.append(f"group {name!r} has no negatives: its FPR is undefined and "
                            "left out of FPR gaps")
    predicted = counts.counts.sum(axis=(0, 1))  # images predicted negative, positive
    if 0 in predicted:
        only = "negative (0)" if predicted[1] == 0 else "positive (1)"
        warnings.append(f"every prediction is {only}: the gaps (DDP, DEOp, DEO) are 0 because the "
                        "model never separates the classes, not because it is fair; accuracy is "
                        "the base rate" + ("" if auc is None else f" (the scores' ROC AUC is {auc:.3f}; "
                                                                    "0.5 is chance)"))
    report = FairnessReport(overall, rows, int(counts.counts.sum()), warnings=warnings)
    if n_boot > 0:
        reps = bootstrap_counts(counts.counts, n_boot, seed)
        boot = metrics_from_counts(reps)
        alpha = (1 - ci_level) / 2
        report.ci = {}
        with _quiet_nan():
            for k, vals in boot.items():
                lo, hi = np.nanquantile(vals, [alpha, 1 - alpha])
                report.ci[k] = (float(lo), float(hi))
            pgb = per_group_from_counts(reps)
            for i, row in enumerate(rows):
                for k in ("accuracy", "tpr"):
                    lo, hi = np.nanquantile(pgb[k][:, i], [alpha, 1 - alpha])
                    row[f"{k}_ci"] = [_num(lo), _num(hi)]
        report.ci_level = ci_level
    return report


def bootstrap_counts(counts: np.ndarray, n_boot: int, seed: int = 0) -> np.ndarray:
    """``n_boot`` bootstrap replicates of a count table, shape (n_boot, *counts.shape).

    Resampling n rows with replacement makes the cell counts multinomial(n, counts / n),
    so drawing that directly is the same bootstrap at O(cells) per replicate.
    """
    flat = counts.reshape(-1).astype(np.int64)
    n = int(flat.sum())
    rng = np.random.default_rng(seed)
    reps = rng.multinomial(n, flat / n, size=n_boot)
    return reps.reshape((n_boot,) + counts.shape)


def intersect(*columns: Sequence[Any] | np.ndarray, sep: str = "|") -> np.ndarray:
    """Join several protected attributes into one intersectional group label per row.

    Parameters
    ----------
    *columns
        one label sequence per attribute, all of one length.
    sep
        the separator between the attributes' labels (``Black|Female``).
    """
    if not columns:
        raise ValueError("intersect needs at least one column")
    arrays = [np.asarray(c).astype(str) for c in columns]
    out = arrays[0]
    for a in arrays[1:]:
        out = np.char.add(np.char.add(out, sep), a)
    return out


def average_reports(reports: Sequence[FairnessReport]) -> dict[str, float]:
    """Mean of each scalar metric over several target attributes (FineFACE Tables 6-7)."""
    if not reports:
        raise ValueError("no reports to average")
    with _quiet_nan():
        return {k: float(np.nanmean([r.overall[k] for r in reports])) for k in METRIC_NAMES}
