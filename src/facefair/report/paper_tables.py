"""The papers' table layouts from evaluated run folders, as data (:class:`Table`) that the
CLI prints as markdown and the HTML report renders.

- ASAC Table 1: DEO (equalized_odds_mean), DEOp, DDP, ACC as fractions, one block per target.
- FineFACE groups (Tables 2-4, 9): accuracy of every protected group, then Max/Min, Overall
  and DoB, in percent.
- FineFACE attributes (Tables 6-7): each metric averaged over the target attributes (one run
  per attribute; SPEC: multi-attribute reports average each metric over the targets), plus
  the per-attribute worst-group accuracy (Table 8).
Where a label matches several runs of one setting (seeds), values are their mean.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .tables import load_metrics, seed_table

#: ASAC Table 1 columns: (header, facefair metric)
ASAC_COLUMNS = (("DEO", "equalized_odds_mean"), ("DEOp", "equal_opportunity_diff"),
                ("DDP", "demographic_parity_diff"), ("ACC", "accuracy"))

#: FineFACE Table 6/7 columns: (header, facefair metric)
ATTRIBUTE_COLUMNS = (("Accuracy", "accuracy"), ("Max grp. Acc.", "best_group_accuracy"),
                     ("Min grp. Acc.", "worst_group_accuracy"), ("TPR", "tpr"),
                     ("Max grp. TPR", "best_group_tpr"), ("Min grp. TPR", "worst_group_tpr"),
                     ("DEO", "equal_opportunity_diff"), ("DEOdds", "equalized_odds_sum"))


@dataclass
class Table:
    """A titled table of strings; ``markdown()`` for the terminal, the report renders the rest."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    title: str = ""

    def markdown(self) -> str:
        lines = [f"{self.title}", ""] if self.title else []
        lines += ["| " + " | ".join(map(_cell, self.header)) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(map(_cell, r)) + " |" for r in self.rows]
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """A markdown cell: a ``|`` inside (an intersection group, ``White|Male``) would split the row."""
    return str(text).replace("|", "\\|")


def _mean(vals: list[float | None]) -> float:
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else math.nan


def _pct(v: float, digits: int = 2) -> str:
    return "" if math.isnan(v) else f"{100 * v:.{digits}f}"


def _docs(rows: dict[str, list[str | Path]]) -> dict[str, list[dict[str, Any]]]:
    return {label: [load_metrics(r) for r in runs] for label, runs in rows.items()}


def asac_tables(rows: dict[str, list[str | Path]]) -> list[Table]:
    """ASAC Table 1 layout: per target attribute, one row per setting, fractions to 3 places."""
    by_target: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for label, ds in _docs(rows).items():
        for d in ds:
            by_target[d.get("target", "?")].setdefault(label, []).append(d["metrics"])
    tables = []
    for target, labels in by_target.items():
        t = Table(["method", "seeds", *[h for h, _ in ASAC_COLUMNS]], title=f"Attribute: {target}")
        for label, ms in labels.items():
            vals = [_mean([m.get(k) for m in ms]) for _, k in ASAC_COLUMNS]
            t.rows.append([label, str(len(ms)), *["" if math.isnan(v) else f"{v:.3f}" for v in vals]])
        tables.append(t)
    return tables


#: the order the FineFACE paper prints groups in: UTKFace's races as Table 3 (White, Black,
#: Asian, Indian, Others), FairFace's alphabetically as Table 2, each race's men before women
PAPER_GROUP_ORDER: dict[str, list[str]] = {
    "utkface": ["White", "Black", "Asian", "Indian", "Others"],
    "fairface": ["Black", "East Asian", "Indian", "Latino_Hispanic", "Middle Eastern", "Southeast Asian", "White"],
}
GENDER_ORDER = ["Male", "Female"]


def paper_group_order(groups: list[str], dataset: str = "") -> list[str]:
    """Groups (``race|gender`` intersections too) in the paper's order for ``dataset``; names it
    does not know keep their place after the known ones."""
    order = PAPER_GROUP_ORDER.get(dataset, []) + GENDER_ORDER

    def key(name: str) -> tuple[int, ...]:
        return tuple(order.index(part) if part in order else len(order) for part in name.split("|"))

    return sorted(groups, key=key)


def data_cell(docs: list[dict[str, Any]]) -> str:
    """Where a row's numbers were measured: the dataset, and what it was trained on if other."""
    cells = []
    for d in docs:
        cell = str(d.get("dataset", "?"))
        if d.get("trained_on") and d["trained_on"] != d.get("dataset"):
            cell += f" (trained on {d['trained_on']})"
        if d.get("split") not in (None, "test"):
            cell += f", {d['split']}"
        cells.append(cell)
    return ", ".join(dict.fromkeys(cells))


def group_table_data(rows: dict[str, list[str | Path]]) -> Table:
    """FineFACE Table 2 layout: per-group accuracy (%), Max/Min, Overall (%), DoB (%), the
    groups in the paper's order, and the data each row was measured on (cross-dataset
    evaluations, Tables 3 and 4, say so)."""
    docs = _docs(rows)
    groups: list[str] = []
    for ds in docs.values():
        for d in ds:
            groups += [g["group"] for g in d["groups"] if g["group"] not in groups]
    datasets = {str(d.get("dataset", "")) for ds in docs.values() for d in ds}
    groups = paper_group_order(groups, next(iter(datasets)) if len(datasets) == 1 else "")
    t = Table(["setting", "data", *groups, "Max/Min", "Overall", "DoB"])
    for label, ds in docs.items():
        acc = defaultdict(list)
        for d in ds:
            for g in d["groups"]:
                acc[g["group"]].append(g["accuracy"])
        m = {k: _mean([d["metrics"].get(k) for d in ds]) for k in ("accuracy_ratio", "accuracy", "degree_of_bias")}
        ratio = "" if math.isnan(m["accuracy_ratio"]) else f"{m['accuracy_ratio']:.3f}"
        t.rows.append([label, data_cell(ds), *[_pct(_mean(acc[g]), 1) for g in groups], ratio,
                       _pct(m["accuracy"]), _pct(m["degree_of_bias"])])
    return t


def attribute_tables(rows: dict[str, list[str | Path]]) -> tuple[Table, Table]:
    """FineFACE Table 6/7 layout (each column averaged over the runs' target attributes, %),
    then Table 8: worst-group accuracy per attribute."""
    docs = _docs(rows)
    t6 = Table(["setting", "attributes", *[h for h, _ in ATTRIBUTE_COLUMNS]])
    per_attr: dict[str, dict[str, float]] = {}
    for label, ds in docs.items():
        by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in ds:
            by_target[d.get("target", "?")].append(d["metrics"])
        # seeds of one attribute first, then the mean over attributes
        per_target = {tg: {k: _mean([m.get(k) for m in ms]) for _, k in ATTRIBUTE_COLUMNS}
                      for tg, ms in by_target.items()}
        cells = [_pct(_mean([v[k] for v in per_target.values() if not math.isnan(v[k])]))
                 for _, k in ATTRIBUTE_COLUMNS]
        t6.rows.append([label, str(len(per_target)), *cells])
        for tg, v in per_target.items():
            per_attr.setdefault(tg, {})[label] = v["worst_group_accuracy"]
    labels = list(docs)
    t8 = Table(["attribute (min. group accuracy)", *labels])
    for tg, vals in per_attr.items():
        t8.rows.append([tg, *[_pct(vals.get(lb, math.nan)) for lb in labels]])
    return t6, t8


def group_table(rows: dict[str, list[str | Path]]) -> str:
    """:func:`group_table_data` as markdown."""
    return group_table_data(rows).markdown()


def attribute_table(rows: dict[str, list[str | Path]]) -> str:
    """:func:`attribute_tables` as markdown (Table 6/7, a blank line, Table 8)."""
    t6, t8 = attribute_tables(rows)
    return t6.markdown() + "\n" + t8.markdown()


def asac_table(rows: dict[str, list[str | Path]]) -> str:
    """:func:`asac_tables` as markdown, one block per target attribute."""
    return "\n".join(t.markdown() for t in asac_tables(rows))


#: ``facefair table --layout`` and experiment files' ``layout``: name -> markdown table of rows
LAYOUTS = {"seeds": seed_table, "asac": asac_table, "groups": group_table, "attributes": attribute_table}
