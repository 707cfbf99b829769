"""A method against its base: what moved per group, how each gap closed, and whether the
difference is beyond noise.

Why: facefair's own tables found that most fairness gains came from lowering the favoured
group's rate (levelling down), and that seeds move numbers as much as methods do. A lower gap
says nothing of which; the per-group changes do. Everything here reads metrics documents
(``metrics.json``) or predictions, never a model.

- :func:`compare` gives per-group changes of TPR, FPR, accuracy, selection rate and AUC and a
  verdict per gap (closed by improving the worse group, by making the better one worse, or both;
  widened; unchanged), plus a collapse check (a constant answer, or the group as the answer).
- :func:`paired_seeds` is the multi-seed significance: per-seed differences against the base
  of the same seed, their mean with a t interval, and whether the sign holds on every seed.
- :func:`paired_bootstrap` is the single-run significance: the difference of two models'
  metric on the same resampled test images (not two overlapping intervals).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from ..metrics.fairness import GroupCounts, metrics_from_counts
from ..metrics.groups import group_codes
from ..report.tables import mean_document

#: each per-group rate, its direction (+1: higher is better, -1: lower is better, 0: neither)
#: and the gap it makes, by the papers' short names
RATES: dict[str, tuple[int, str]] = {
    "tpr": (+1, "DEOp (TPR gap)"),
    "fpr": (-1, "FPR gap"),
    "accuracy": (+1, "accuracy gap"),
    "selection_rate": (0, "DDP (selection-rate gap)"),
}
#: a change smaller than this (a fraction) is "unchanged" in the verdict's words; whether it is
#: beyond noise is the intervals' business, not the verdict's
MOVE = 0.005


@dataclass
class GapVerdict:
    """How one gap moved between a base and a method, in the base's better and worse groups."""

    rate: str
    gap: str
    before: float
    after: float
    better_group: str
    worse_group: str
    better_change: float
    worse_change: float
    verdict: str

    def sentence(self) -> str:
        """One line a reader can act on."""
        if math.isnan(self.before) or math.isnan(self.after):
            return f"{self.gap}: undefined"
        moves = (f"{self.worse_group} {self.worse_change:+.3f}, {self.better_group} {self.better_change:+.3f} "
                 f"{self.rate.upper() if self.rate in ('tpr', 'fpr') else self.rate.replace('_', ' ')}")
        return f"{self.gap} {self.before:.3f} -> {self.after:.3f}: {self.verdict} ({moves})"


@dataclass
class Comparison:
    """A method's run (or mean of seeds) against its base's."""

    label: str
    base_label: str
    groups: list[dict[str, Any]]
    gaps: list[GapVerdict]
    overall: dict[str, float]  # method - base, every scalar metric both have
    collapse: str | None = None
    notes: list[str] = field(default_factory=list)

    def verdict(self, rate: str) -> GapVerdict | None:
        return next((g for g in self.gaps if g.rate == rate), None)

    def headline(self) -> str:
        """The comparison in one paragraph: accuracy and AUC cost, then each gap's verdict."""
        acc, auc = self.overall.get("accuracy"), self.overall.get("auc")
        parts = [f"{self.label} against {self.base_label}: accuracy {_signed(acc)}"
                 + (f", AUC {_signed(auc)}" if auc is not None else "")]
        if self.collapse:
            parts.append(f"COLLAPSED: {self.collapse}")
        parts += [g.sentence() for g in self.gaps if g.rate in ("tpr", "fpr", "selection_rate")]
        return "; ".join(parts) + "."


def _signed(v: float | None) -> str:
    return "undefined" if v is None or math.isnan(v) else f"{v:+.4f}"


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def mean_groups(docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-group rows averaged over several runs' metrics documents (the seeds of a setting)."""
    order: list[str] = []
    rows: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        for r in d.get("groups", []):
            if r["group"] not in rows:
                order.append(r["group"])
            rows.setdefault(r["group"], []).append(r)
    out = []
    for name in order:
        rs = rows[name]
        row: dict[str, Any] = {"group": name, "n": rs[0].get("n")}
        for k in (*RATES, "auc"):
            vals = [_num(r.get(k)) for r in rs if r.get(k) is not None]
            row[k] = float(np.mean(vals)) if vals else math.nan
        out.append(row)
    return out


def collapse(groups: list[dict[str, Any]], tol: float = 0.02) -> str | None:
    """Does the model answer a constant or the group? From per-group selection rates."""
    rates = [_num(g.get("selection_rate")) for g in groups if not math.isnan(_num(g.get("selection_rate")))]
    if not rates:
        return None
    if all(r <= tol for r in rates):
        return "it predicts the negative class for (almost) everyone"
    if all(r >= 1 - tol for r in rates):
        return "it predicts the positive class for (almost) everyone"
    if len(rates) >= 2 and all(r <= tol or r >= 1 - tol for r in rates):
        pos = [g["group"] for g in groups if _num(g.get("selection_rate")) >= 1 - tol]
        return f"it predicts the group: positive for {', '.join(pos)} and negative for the rest"
    return None


def validation_collapse(val: dict[str, Any], tol: float = 0.02) -> str | None:
    """The same check from a run's validation row (overall metrics only): a group answer makes
    the selection-rate gap ~1; a constant answer makes TPR ~0 (or ~1) at the accuracy of
    answering one class (the row's ``base_rate``, the share of positives)."""
    ddp, tpr, acc, rate = (val.get(k) for k in ("demographic_parity_diff", "tpr", "accuracy", "base_rate"))
    if ddp is not None and ddp >= 1 - tol:
        return f"it predicts the protected group (selection-rate gap {ddp:.3f})"
    if tpr is None or acc is None:
        return None
    if rate is None:  # an older row: no share of positives, but no group finding positives says as much
        best = val.get("best_group_tpr")
        if best is not None and best <= tol and (ddp or 0.0) <= tol:
            return f"it finds (almost) no positives in any group (best group TPR {best:.3f})"
        return None
    if tpr <= tol and abs(acc - (1 - rate)) <= tol:
        return (f"it predicts the negative class for (almost) everyone (TPR {tpr:.3f}, accuracy {acc:.3f} = the "
                "share of negatives)")
    if tpr >= 1 - tol and abs(acc - rate) <= tol:
        return f"it predicts the positive class for (almost) everyone (accuracy {acc:.3f} = the share of positives)"
    return None


def _verdict(direction: int, before: float, after: float, better: float, worse: float) -> str:
    if math.isnan(before) or math.isnan(after):
        return "undefined"
    if after > before + MOVE:
        return "widened"
    if after >= before - MOVE:
        return "unchanged"
    if direction == 0:  # selection rate: no side is better; say which side moved
        up, down = worse > MOVE, better < -MOVE  # worse = the lower rate here
        return ("closed by raising the lower group and lowering the higher" if up and down
                else "closed by raising the lower group" if up
                else "closed by lowering the higher group" if down else "closed (small moves on both sides)")
    raised, lowered = direction * worse > MOVE, direction * better < -MOVE
    if raised and lowered:
        return "closed by both: the worse group improved and the better one got worse (partly levelling down)"
    if raised:
        return "closed by improving the worse group (levelling up)"
    if lowered:
        return "closed by making the better group worse (levelling down)"
    return "closed (small moves on both sides)"


def compare(base: Sequence[dict[str, Any]], method: Sequence[dict[str, Any]], label: str = "method",
            base_label: str = "base") -> Comparison:
    """Per-group changes and a verdict per gap, ``method`` against ``base``.

    Parameters
    ----------
    base
        the base's metrics documents (one per seed; their mean is compared).
    method
        the method's metrics documents (one per seed).
    label
        the method's name in sentences.
    base_label
        the base's name.
    """
    if not base or not method:
        raise DataError("a comparison needs at least one metrics document on each side")
    bg, mg = mean_groups(base), mean_groups(method)
    by_m = {g["group"]: g for g in mg}
    groups = []
    for g in bg:
        m = by_m.get(g["group"])
        if m is None:
            continue
        groups.append({"group": g["group"], **{f"{k}_before": g[k] for k in (*RATES, "auc")},
                       **{f"{k}_change": m[k] - g[k] for k in (*RATES, "auc")}})
    mean_b, mean_m = (mean_document(list(d), "")["metrics"] for d in (base, method))
    # where every group holds one class (gender within race x gender) the documents leave the
    # rate gaps out as undefined: no verdict on them either
    defined = not all(k in mean_b and math.isnan(_num(mean_b[k])) for k in ("equal_opportunity_diff", "demographic_parity_diff"))
    gaps = []
    for rate, (direction, gap) in (RATES.items() if defined else ()):
        vals = [(g["group"], g[f"{rate}_before"], g[f"{rate}_before"] + g[f"{rate}_change"]) for g in groups
                if not math.isnan(g[f"{rate}_before"]) and not math.isnan(g[f"{rate}_change"])]
        if len(vals) < 2:
            continue
        # "better" and "worse" are the base's: the groups the gap was between before
        key = (lambda v: v[1]) if direction >= 0 else (lambda v: -v[1])
        worse, better = min(vals, key=key), max(vals, key=key)
        before = max(v[1] for v in vals) - min(v[1] for v in vals)
        after = max(v[2] for v in vals) - min(v[2] for v in vals)
        d_better, d_worse = better[2] - better[1], worse[2] - worse[1]
        gaps.append(GapVerdict(rate, gap, before, after, better[0], worse[0], d_better, d_worse,
                               _verdict(direction, before, after, d_better, d_worse)))
    overall = {k: mean_m[k] - mean_b[k] for k in mean_b if mean_b[k] is not None and mean_m.get(k) is not None}
    return Comparison(label, base_label, groups, gaps, overall, collapse(mg))


@dataclass
class PairedDifference:
    """method - base of one metric, with an interval and how it was paired."""

    metric: str
    mean: float
    low: float
    high: float
    per_seed: list[float]
    how: str  # "seeds" or "bootstrap"

    @property
    def beyond_noise(self) -> bool:
        """The interval excludes zero."""
        return not (self.low <= 0.0 <= self.high) and not math.isnan(self.low)

    @property
    def same_sign(self) -> bool:
        """Every seed's difference has the mean's sign (True for a single bootstrap pair)."""
        if not self.per_seed:
            return True
        return all(d * self.mean > 0 for d in self.per_seed)


def paired_seeds(metric: str, base: Sequence[float], method: Sequence[float], level: float = 0.95) -> PairedDifference:
    """Per-seed differences (method - base of the same seed), their mean and a t interval.

    Parameters
    ----------
    metric
        the metric's name.
    base
        the base's value per seed, in seed order.
    method
        the method's value per seed, same order.
    level
        the interval's level.
    """
    if len(base) != len(method):
        raise DataError(f"{metric}: {len(base)} base seeds but {len(method)} method seeds; pair them by seed")
    d = [float(m) - float(b) for b, m in zip(base, method)]
    if not d:
        raise DataError(f"{metric}: no seeds to pair")
    mean = float(np.mean(d))
    if len(d) < 2:
        return PairedDifference(metric, mean, math.nan, math.nan, d, "seeds")
    from scipy import stats

    half = float(np.std(d, ddof=1)) / math.sqrt(len(d)) * float(stats.t.ppf((1 + level) / 2, len(d) - 1))
    return PairedDifference(metric, mean, mean - half, mean + half, d, "seeds")


def paired_bootstrap(metric: str, y: np.ndarray, group: np.ndarray, pred_base: np.ndarray,
                     pred_method: np.ndarray, n_boot: int = 1000, level: float = 0.95,
                     seed: int = 0) -> PairedDifference:
    """The difference of one SPEC metric between two models' predictions of the same images,
    with a percentile interval from resampling those images (each replicate scores both
    models on the same draw, so image difficulty cancels).

    Parameters
    ----------
    metric
        a SPEC scalar metric (``equalized_odds_mean``, ``accuracy``, ...).
    y
        true labels of the images.
    group
        their protected groups.
    pred_base
        the base's predictions, aligned with ``y``.
    pred_method
        the method's predictions, aligned with ``y``.
    n_boot
        replicates.
    level
        the interval's level.
    seed
        the resampling seed.
    """
    y, pb, pm = (np.asarray(a, dtype=np.int64) for a in (y, pred_base, pred_method))
    if not (len(y) == len(pb) == len(pm) == len(group)):
        raise DataError("paired bootstrap: y, group and both predictions must be aligned, one row per image")
    cb = GroupCounts.from_predictions(y, pb, group)
    codes, _ = group_codes(group, "group")
    n_cells = 4 * len(cb.groups)
    codes = np.asarray(codes, dtype=np.int64)
    cell_b, cell_m = codes * 4 + y * 2 + pb, codes * 4 + y * 2 + pm
    point = (metrics_from_counts(GroupCounts.from_predictions(y, pm, group).counts)[metric]
             - metrics_from_counts(cb.counts)[metric])
    rng = np.random.default_rng(seed)
    diffs = []
    n = len(y)
    for start in range(0, n_boot, 50):
        k = min(50, n_boot - start)
        idx = rng.integers(0, n, size=(k, n))
        off = np.arange(k)[:, None] * n_cells
        counts = [np.bincount((c[idx] + off).ravel(), minlength=k * n_cells).reshape(k, len(cb.groups), 2, 2)
                  for c in (cell_b, cell_m)]
        diffs.append(metrics_from_counts(counts[1])[metric] - metrics_from_counts(counts[0])[metric])
    d = np.concatenate(diffs)
    d = d[~np.isnan(d)]
    a = (1 - level) / 2
    lo, hi = (float(np.quantile(d, a)), float(np.quantile(d, 1 - a))) if len(d) else (math.nan, math.nan)
    return PairedDifference(metric, float(point), lo, hi, [], "bootstrap")
