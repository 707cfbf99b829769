"""The results of a planned experiment as a person reads them: the paper's layout (means over
seeds), the headline metrics with mean ± sd and bootstrap intervals, every metric, and the
notes a reader of a mean must see (which seed predicts one class, which run a choice took)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..report.comparisons import compare_rows, comparison_markdown
from ..report.paper_tables import LAYOUTS
from ..report.tables import PAPER_ORDER, interval_table, load_metrics, mean_document, seed_table
from ..runfolder import RunFolder
from .archive import archive
from .plan import PlannedRun
from .spec import Experiment

#: the metrics a layout's paper reports, for the mean ± sd [interval] table (default: ASAC's)
HEADLINE = {"groups": ("accuracy", "worst_group_accuracy", "accuracy_ratio", "degree_of_bias"),
            "attributes": ("accuracy", "worst_group_accuracy", "tpr", "equal_opportunity_diff", "equalized_odds_sum")}


def row_label(p: PlannedRun, split: list[str] | tuple[str, ...]) -> str:
    values = [f"{k}={p.grid[k]}" for k in split if k in p.grid]
    return f"{p.label} ({', '.join(values)})" if values else p.label


def rows(planned: list[PlannedRun], metrics_file: str = RunFolder.METRICS,
         split: list[str] | tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Label -> the evaluated runs of every seed (for the tables); with another
    ``metrics_file`` (a cross-dataset evaluation) the paths of those files. Grid keys in
    ``split`` name separate rows (``Base (arch=resnet50)``); the others' runs share a row."""
    return seed_units(planned, metrics_file, split)[0]


def seed_units(planned: list[PlannedRun], metrics_file: str = RunFolder.METRICS,
               split: list[str] | tuple[str, ...] = (),
               average: list[str] | tuple[str, ...] = ()) -> tuple[dict[str, list[Any]], list[str]]:
    """Label -> one entry per seed, for spreads over seeds: the run itself, or, where grid keys
    are ``average``d (FineFACE Table 6's mean over target attributes), the mean document of
    that seed's runs. A seed with some of those runs not evaluated is left out (a mean over
    fewer attributes is another number) and named in the returned notes."""
    groups: dict[tuple[str, int], list[PlannedRun]] = {}
    for p in planned:
        groups.setdefault((row_label(p, split), p.seed), []).append(p)
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


def run_warnings(planned: list[PlannedRun], keys: list[str]) -> list[str]:
    """Each evaluated run's metric warnings, named by row and seed: a seed whose model
    predicts one class for every image has gaps of 0 that pull a mean down, and a reader of
    the mean must be told which seed that was. A warning several runs share is one line naming
    them all (FineFACE Table 2's race x gender groups each hold one class on every run)."""
    where: dict[str, dict[str, list[int]]] = {}  # warning -> row label -> seeds
    for p in planned:
        if p.choice is None and p.done():  # a chosen row's warnings are its run's
            for w in load_metrics(p.folder).get("warnings", []):
                where.setdefault(w, {}).setdefault(row_label(p, keys), []).append(p.seed)
    return ["; ".join(f"{label}, seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, sorted(seeds)))}"
                      for label, seeds in by_row.items()) + f": {w}" for w, by_row in where.items()]


def choice_notes(planned: list[PlannedRun], keys: list[str]) -> list[str]:
    """One line per chosen row and grid value: the run each seed chose and by what rule."""
    lines: dict[str, list[str]] = {}
    for p in planned:
        picked = p.pick() if p.choice is not None else None
        if picked is not None:
            lines.setdefault(row_label(p, keys), []).append(f"seed {p.seed} {picked[0].run_id} ({picked[1]})")
    return [f"{label} chose on validation: {'; '.join(seeds)}" for label, seeds in lines.items()]


def comparisons(exp: Experiment, planned: list[PlannedRun], varying: list[str]) -> str:
    """Every row against the file's first run (its base: ERM, or ASAC's base model), per grid
    value: paired per-seed differences with intervals, what is within noise, and how each gap
    closed (levelling up or down), as :func:`facefair.report.comparisons.comparison_markdown`."""
    base_id = exp.runs[0].id
    by_grid: dict[tuple[str, ...], dict[str, list[Any]]] = {}
    base_label: dict[tuple[str, ...], str] = {}
    for p in planned:
        if not p.done():
            continue
        key = tuple(f"{k}={p.grid[k]}" for k in varying if k in p.grid)
        by_grid.setdefault(key, {}).setdefault(p.label, []).append(p.result())
        if p.run_id == base_id:
            base_label[key] = p.label
    text = ""
    for key, table in by_grid.items():
        if key not in base_label or len(table) < 2:
            continue
        found = compare_rows(table, base_label[key], n_boot=0)  # seeds only: an archive keeps no predictions
        text += (f"### {', '.join(key)}\n\n" if key else "") + comparison_markdown(found) + "\n"
    return (f"## Against {exp.runs[0].label}: paired per-seed differences and how each gap closed\n\n{text}"
            if text else "")


def write_results(exp: Experiment, planned: list[PlannedRun], path: Path, scale: str,
                  sets: dict[str, Any] | None = None) -> Path:
    """The paper-layout table and the seed table of the evaluated runs, as markdown, and the
    archive beside it (``results.json``). Grid values give separate rows (each backbone of
    ASAC Table 3), except those a layout handles itself: ``asac`` prints one table per
    target, ``attributes`` averages over targets (so its spread over seeds is that of the
    per-seed means over attributes)."""
    varying = [k for k in exp.grid if len({str(p.grid.get(k)) for p in planned}) > 1]
    own = {"asac": ("target",), "attributes": ("target",)}.get(exp.layout, ())
    split = [k for k in varying if k not in own]
    average = [k for k in varying if k in own] if exp.layout == "attributes" else []
    per_row = split + [k for k in varying if k in own and k not in average]  # asac: targets as rows here
    table_rows = rows(planned, split=split)
    units, notes = seed_units(planned, split=per_row, average=average)
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
            + f".\n\n{layout(table_rows)}\n"
            f"## Headline metrics: mean ± sd over {over} [mean of the seeds' 95% test bootstrap intervals]\n\n"
            f"{interval_table(units, headline)}\n" + "".join(f"- {n}\n" for n in notes) + ("\n" if notes else ""))
    for c in exp.cross:
        crows = rows(planned, c.file(), split=split)
        if crows:
            cunits, _ = seed_units(planned, c.file(), split=per_row, average=average)
            text += (f"## Cross-dataset: {c.label or c.dataset} (trained on {exp.train.get('dataset')}, "
                     f"tested on {c.dataset} {c.split})\n\n{layout(crows)}\n"
                     f"{interval_table(cunits, headline)}\n")
    text += comparisons(exp, planned, varying)
    text += f"## Every metric, mean ± sd over {over}\n\n{seed_table(units)}"
    write_text(path, text)
    write_text(path.with_suffix(".json"), json.dumps(archive(exp, planned, scale, sets), indent=1) + "\n")
    return path
