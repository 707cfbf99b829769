"""The FineFACE papers' table layouts, in percent, from evaluated run folders.

- groups (Tables 2-4, 9): accuracy of every protected group, then Max/Min, Overall and DoB.
- attributes (Tables 6-7): each metric averaged over the target attributes (one run per
  attribute; SPEC: multi-attribute reports average each metric over the targets), plus the
  per-attribute worst-group accuracy (Table 8).
Where a label matches several runs of one setting (seeds), values are their mean.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from .tables import load_metrics

#: FineFACE Table 6/7 columns: (header, facefair metric)
ATTRIBUTE_COLUMNS = (("Accuracy", "accuracy"), ("Max grp. Acc.", "best_group_accuracy"),
                     ("Min grp. Acc.", "worst_group_accuracy"), ("TPR", "tpr"),
                     ("Max grp. TPR", "best_group_tpr"), ("Min grp. TPR", "worst_group_tpr"),
                     ("DEO", "equal_opportunity_diff"), ("DEOdds", "equalized_odds_sum"))


def _mean(vals: list[float | None]) -> float:
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else math.nan


def _pct(v: float, digits: int = 2) -> str:
    return "" if math.isnan(v) else f"{100 * v:.{digits}f}"


def group_table(rows: dict[str, list[str | Path]]) -> str:
    """FineFACE Table 2 layout: per-group accuracy (%), Max/Min, Overall (%), DoB (%)."""
    docs = {label: [load_metrics(r) for r in runs] for label, runs in rows.items()}
    groups: list[str] = []
    for ds in docs.values():
        for d in ds:
            groups += [g["group"] for g in d["groups"] if g["group"] not in groups]
    lines = ["| setting | " + " | ".join(groups) + " | Max/Min | Overall | DoB |",
             "|---|" + "---|" * (len(groups) + 3)]
    for label, ds in docs.items():
        acc = defaultdict(list)
        for d in ds:
            for g in d["groups"]:
                acc[g["group"]].append(g["accuracy"])
        m = {k: _mean([d["metrics"].get(k) for d in ds]) for k in ("accuracy_ratio", "accuracy", "degree_of_bias")}
        cells = [_pct(_mean(acc[g]), 1) for g in groups]
        ratio = "" if math.isnan(m["accuracy_ratio"]) else f"{m['accuracy_ratio']:.3f}"
        lines.append(f"| {label} | " + " | ".join(cells)
                     + f" | {ratio} | {_pct(m['accuracy'])} | {_pct(m['degree_of_bias'])} |")
    return "\n".join(lines) + "\n"


def attribute_table(rows: dict[str, list[str | Path]]) -> str:
    """FineFACE Table 6/7 layout: each column averaged over the runs' target attributes (%),
    then Table 8: worst-group accuracy per attribute."""
    docs = {label: [load_metrics(r) for r in runs] for label, runs in rows.items()}
    lines = ["| setting | attributes | " + " | ".join(h for h, _ in ATTRIBUTE_COLUMNS) + " |",
             "|---|---|" + "---|" * len(ATTRIBUTE_COLUMNS)]
    per_attr: dict[str, dict[str, list[float]]] = {}
    for label, ds in docs.items():
        by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in ds:
            by_target[d.get("target", "?")].append(d["metrics"])
        # seeds of one attribute first, then the mean over attributes
        per_target = {t: {k: _mean([m.get(k) for m in ms]) for _, k in ATTRIBUTE_COLUMNS}
                      for t, ms in by_target.items()}
        cells = [_pct(_mean([v[k] for v in per_target.values() if not math.isnan(v[k])]))
                 for _, k in ATTRIBUTE_COLUMNS]
        lines.append(f"| {label} | {len(per_target)} | " + " | ".join(cells) + " |")
        for t, v in per_target.items():
            per_attr.setdefault(t, {})[label] = v["worst_group_accuracy"]
    labels = list(docs)
    lines += ["", "| attribute (min. group accuracy) | " + " | ".join(labels) + " |",
              "|---|" + "---|" * len(labels)]
    for t, vals in per_attr.items():
        lines.append(f"| {t} | " + " | ".join(_pct(vals.get(lb, math.nan)) for lb in labels) + " |")
    return "\n".join(lines) + "\n"
