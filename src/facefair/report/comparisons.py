"""Settings compared with a base, in words and numbers: paired differences with intervals
(per seed where seeds pair, a paired bootstrap on the same test images for single runs), what
is within noise, and how each gap closed (:mod:`facefair.analysis.comparison`).

``facefair table`` prints these below its table; the HTML report and the experiment results
lead with the same headlines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.comparison import Comparison, PairedDifference, compare, paired_bootstrap, paired_seeds
from ..errors import ConfigError, DataError
from ..metrics.predictions import read_predictions
from ..runfolder import RunFolder
from .tables import RunLike, load_metrics, metrics_path

#: what a comparison reports, in this order (SPEC names; "auc" is the threshold-free ranking)
COMPARED = ("accuracy", "auc", "equalized_odds_mean", "equal_opportunity_diff", "demographic_parity_diff",
            "worst_group_accuracy")
#: a DEO this much above the base's is called worse (fractions), where no interval says otherwise
WORSE_BY = 0.01
SHORT = {"accuracy": "accuracy", "auc": "AUC", "equalized_odds_mean": "DEO", "equal_opportunity_diff": "DEOp",
         "demographic_parity_diff": "DDP", "worst_group_accuracy": "worst-group acc."}


@dataclass
class SettingComparison:
    """One setting against the base: the levelling analysis and a paired difference per metric."""

    comparison: Comparison
    differences: dict[str, PairedDifference]

    def lines(self) -> list[str]:
        """The comparison in sentences: the metrics' paired differences (with the accuracy
        cost, whether each is beyond noise, and the seeds' signs), a collapse, then each gap's
        levelling verdict."""
        c = self.comparison
        moved = []
        for k, d in self.differences.items():
            if math.isnan(d.mean):
                continue
            noise = ("no interval" if math.isnan(d.low) else "beyond noise" if d.beyond_noise
                     else "within noise")
            signs = (f", same sign on all {len(d.per_seed)} seeds" if d.same_sign else
                     f", sign differs across seeds ({', '.join(f'{v:+.3f}' for v in d.per_seed)})") \
                if len(d.per_seed) > 1 else ""
            interval = "" if math.isnan(d.low) else f" [{_f(d.low)}, {_f(d.high)}]"
            moved.append(f"{SHORT.get(k, k)} {d.mean:+.4f}{interval} ({noise}{signs})")
        out = [f"{c.label} against {c.base_label}: " + "; ".join(moved) + "."]
        if c.collapse:
            out.append(f"COLLAPSED: {c.collapse}.")
        deo = self.differences.get("equalized_odds_mean")
        if deo is not None and deo.mean > WORSE_BY and (deo.beyond_noise or math.isnan(deo.low)):
            out.append(f"WORSE than {c.base_label} on DEO, the gap ASAC targets: {deo.mean:+.4f}.")
        out += [g.sentence() + "." for g in c.gaps if g.rate in ("tpr", "fpr", "selection_rate")]
        out += [n + "." for n in c.notes]
        return out

    def headline(self) -> str:
        """:meth:`lines` as one paragraph."""
        return " ".join(self.lines())


def _f(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:+.4f}"


def _seed(run: RunLike, doc: dict[str, Any]) -> int | None:
    """The run's training seed: from its evaluation ``doc``, its config, or the identity a
    restored run folder keeps of its archive (restored folders hold no config)."""
    if isinstance(doc.get("seed"), int):
        return int(doc["seed"])
    if isinstance(run, dict):
        return None
    return RunFolder(metrics_path(run).parent).seed()


def _pair_key(run: RunLike, doc: dict[str, Any]) -> tuple[str, str, int] | None:
    seed = _seed(run, doc)
    return None if seed is None else (str(doc.get("dataset", "")), str(doc.get("target", "")), seed)


def predictions_path(run: RunLike) -> Path | None:
    """The predictions CSV beside a metrics file (``metrics-X.json`` -> ``predictions-X.csv``)."""
    if isinstance(run, dict):
        return None
    m = metrics_path(run)
    p = m.with_name("predictions" + m.name[len("metrics"):-len(".json")] + ".csv")
    return p if p.is_file() else None


def _aligned(base: Path, method: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y, group, base pred, method pred) of the images both files predicted, matched by id."""
    b, m = read_predictions(base, keep_ids=True), read_predictions(method, keep_ids=True)
    assert b.ids is not None and m.ids is not None
    pos = {i: k for k, i in enumerate(m.ids.tolist())}
    keep = [(k, pos[i]) for k, i in enumerate(b.ids.tolist()) if i in pos]
    if not keep:
        raise DataError(f"no image id in common with {base}", method)
    bi, mi = np.array([k for k, _ in keep]), np.array([j for _, j in keep])
    if (b.y[bi] != m.y[mi]).any():
        raise DataError(f"the same image ids carry other labels than in {base}", method)
    groups = np.asarray(b.group)[bi]
    return b.y[bi], groups, b.pred[bi], m.pred[mi]


def compare_setting(base: list[RunLike], runs: list[RunLike], label: str, base_label: str,
                    n_boot: int = 1000, seed: int = 0) -> SettingComparison:
    """One setting against the base setting.

    Seeds pair when both sides have the same set of seeds (from each run's config): the
    per-seed differences give a t interval. A single run against a single run pairs on the
    test images both predicted (a paired bootstrap). Otherwise the seeds' means are
    compared with no interval, and the comparison says so.

    Parameters
    ----------
    base
        the base's runs (folders or metrics files).
    runs
        the setting's runs.
    label
        the setting's name.
    base_label
        the base's name.
    n_boot
        bootstrap replicates for a single-run pair (0: none; only seeds pair).
    seed
        the bootstrap's seed.
    """
    bdocs, mdocs = [load_metrics(r) for r in base], [load_metrics(r) for r in runs]
    comp = compare(bdocs, mdocs, label, base_label)
    diffs: dict[str, PairedDifference] = {}
    # a pair is the same seed of the same task: rows spanning several target attributes
    # (FineFACE Table 6) pair attribute by attribute
    bseeds = [_pair_key(r, d) for r, d in zip(base, bdocs)]
    mseeds = [_pair_key(r, d) for r, d in zip(runs, mdocs)]
    single = len(base) == 1 and len(runs) == 1
    paired = (not single and None not in bseeds and None not in mseeds and sorted(bseeds) == sorted(mseeds)
              and len(set(bseeds)) == len(bseeds))
    bp, mp = (predictions_path(base[0]), predictions_path(runs[0])) if single and n_boot else (None, None)
    aligned = _aligned(bp, mp) if bp is not None and mp is not None else None
    for k in COMPARED:
        bv = [d["metrics"].get(k) for d in bdocs]
        mv = [d["metrics"].get(k) for d in mdocs]
        if None in bv or None in mv:
            continue
        if paired:
            keys = sorted(bseeds)  # type: ignore[type-var]
            order_b = [bv[bseeds.index(s)] for s in keys]
            order_m = [mv[mseeds.index(s)] for s in keys]
            diffs[k] = paired_seeds(k, order_b, order_m)
        elif aligned is not None and k != "auc":
            diffs[k] = paired_bootstrap(k, *aligned, n_boot=n_boot, seed=seed)
        else:
            mean = float(np.mean(mv) - np.mean(bv))
            diffs[k] = PairedDifference(k, mean, math.nan, math.nan, [], "unpaired")
    if not paired and not aligned:
        comp.notes.append("no interval: the two sides share neither their seeds nor a predictions file")
    return SettingComparison(comp, diffs)


def compare_rows(rows: dict[str, list[RunLike]], base: str | None = None, n_boot: int = 1000) -> list[SettingComparison]:
    """Every row of a table against its base row (the first unless named)."""
    if len(rows) < 2:
        return []
    base = base or next(iter(rows))
    if base not in rows:
        raise ConfigError(f"--base {base!r} is not a row label (rows: {', '.join(rows)})")
    return [compare_setting(rows[base], runs, label, base, n_boot) for label, runs in rows.items() if label != base]


def comparison_markdown(comparisons: list[SettingComparison]) -> str:
    """The comparisons as a markdown table of paired differences, then one headline each."""
    if not comparisons:
        return ""
    cols = list(COMPARED)
    lines = ["| against " + comparisons[0].comparison.base_label + " | paired by | "
             + " | ".join(SHORT[k] for k in cols) + " |", "|---|---|" + "---|" * len(cols)]
    for sc in comparisons:
        cells = []
        how = next((d.how for d in sc.differences.values()), "")
        for k in cols:
            d = sc.differences.get(k)
            if d is None or math.isnan(d.mean):
                cells.append("")
                continue
            cell = f"{d.mean:+.4f}"
            if not math.isnan(d.low):
                cell += f" [{d.low:+.4f}, {d.high:+.4f}]" + ("" if d.beyond_noise else " ~")
            cells.append(cell)
        lines.append(f"| {sc.comparison.label} | {how} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("~: within noise (the 95% interval of the paired difference holds 0).")
    lines.append("")
    lines += [f"- {sc.headline()}" for sc in comparisons]
    return "\n".join(lines) + "\n"


def verdict_rows(sc: SettingComparison) -> list[dict[str, Any]]:
    """Per group: the change of TPR, FPR, accuracy and AUC (for the report's tables)."""
    return [{"group": g["group"], **{k: g[f"{k}_change"] for k in ("tpr", "fpr", "accuracy", "auc")}}
            for g in sc.comparison.groups]
