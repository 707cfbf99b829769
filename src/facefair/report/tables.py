"""Multi-seed result tables: mean and spread of every SPEC metric over runs of one setting.

``facefair table "Base=runs/base-s*" "ASAC=runs/asac-s*"`` reads each run's ``metrics.json``
(written by ``facefair evaluate``) and prints one row per label: mean +- sample standard
deviation (ddof = 1) over the seeds, in the ASAC papers' column order first.
"""

from __future__ import annotations

import glob
import json
import logging
import math
from pathlib import Path
from typing import Any, Union

from ..errors import ConfigError, DataError
from ..metrics import METRIC_NAMES
from ..runfolder import RunFolder

log = logging.getLogger(__name__)

#: a run folder, a metrics file, or an evaluation document already read
RunLike = Union[str, Path, "dict[str, Any]"]

PAPER_ORDER = ("equalized_odds_mean", "equal_opportunity_diff", "demographic_parity_diff", "accuracy")


def fmt_value(v: Any) -> str:
    """A metric for a table cell: four decimals, "n/a" where it is undefined (None or NaN)."""
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def metrics_path(run: str | Path, metrics_file: str = RunFolder.METRICS) -> Path:
    """A run folder's metrics file; a path to a ``.json`` file is taken as it is (a tagged
    evaluation such as ``metrics-inference-conditional.json``)."""
    path = Path(run)
    return path if path.suffix == ".json" else path / metrics_file


def load_metrics(run: RunLike) -> dict[str, Any]:
    """The evaluation document of a run folder or metrics file (a document already read, such
    as a :func:`mean_document`, is returned as it is), or a clear error."""
    if isinstance(run, dict):
        return run
    path = metrics_path(run)
    if not path.is_file():
        raise DataError(f"no {path.name}; run 'facefair evaluate {path.parent}' first", path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"not a readable metrics document: {e}", path) from None
    _check_document(doc, path)
    return doc


def _check_document(doc: Any, path: Path) -> None:
    """The shape every reader of an evaluation document relies on, or a line saying what is wrong."""
    number = (int, float, type(None))
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        raise DataError("not a facefair metrics document (no 'metrics' table)", path)
    bad = [k for k, v in doc["metrics"].items() if not isinstance(v, number) or isinstance(v, bool)]
    if bad:
        raise DataError(f"metric {bad[0]!r} is {doc['metrics'][bad[0]]!r}, not a number", path)
    groups = doc.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "group" in g for g in groups):
        raise DataError("'groups' must be a list of tables, each with a 'group'", path)
    if not isinstance(doc.get("ci", {}), dict):
        raise DataError("'ci' must be a table", path)


def mean_document(docs: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """Several evaluation documents as one: each metric and each interval end averaged over
    them. FineFACE Table 6 reports means over target attributes; taking that mean per seed
    first makes the spread over seeds the spread of the number the table prints."""
    if not docs:
        raise ValueError("mean_document needs at least one document")
    out: dict[str, Any] = {"source": source, "metrics": {}, "ci": {}}
    for k in docs[0]["metrics"]:
        vals = [d["metrics"].get(k) for d in docs]
        out["metrics"][k] = None if None in vals else sum(vals) / len(vals)
        cis = [d.get("ci", {}).get(k) for d in docs]
        if all(c and None not in c for c in cis):
            out["ci"][k] = [sum(c[0] for c in cis) / len(cis), sum(c[1] for c in cis) / len(cis)]
    return out


def metric_names(docs: list[dict[str, Any]]) -> list[str]:
    """The SPEC metrics, then any other metric the documents carry (``auc`` where the runs
    were evaluated with scores), in first-seen order."""
    names = list(METRIC_NAMES)
    for d in docs:
        names += [k for k in d if k not in names]
    return names


def summarize_runs(runs: list[RunLike]) -> dict[str, Any]:
    """Mean, standard deviation and values of each metric over ``runs``."""
    docs = [load_metrics(r)["metrics"] for r in runs]
    out: dict[str, Any] = {"n": len(docs), "metrics": {},
                           "runs": [r.get("source", "?") if isinstance(r, dict) else str(r) for r in runs]}
    for k in metric_names(docs):
        vals = [d[k] for d in docs if d.get(k) is not None]
        mean = sum(vals) / len(vals) if vals else math.nan
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else math.nan
        out["metrics"][k] = {"mean": mean, "sd": sd, "values": vals}
    return out


def _partial(have: int, runs: int) -> str:
    """A cell's note when only some runs have the metric (an evaluation older than the
    metric, a run without scores): the mean is over those, and the cell says so."""
    return f" ({have} of {runs} runs)" if 0 < have < runs else ""


def seed_table(rows: dict[str, list[RunLike]], metrics: tuple[str, ...] | None = None) -> str:
    """A markdown table: one row per label, mean +- sd over its runs."""
    summaries = {label: summarize_runs(runs) for label, runs in rows.items()}
    found = [k for s in summaries.values() for k in s["metrics"]]
    cols = list(metrics or (*PAPER_ORDER, *dict.fromkeys(k for k in found if k not in PAPER_ORDER)))
    lines = ["| setting | seeds | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    empty = {"mean": math.nan, "sd": math.nan, "values": []}
    for label, s in summaries.items():
        cells = []
        for c in cols:
            m = s["metrics"].get(c, empty)
            cells.append("" if math.isnan(m["mean"]) else
                         f"{m['mean']:.4f}" + ("" if math.isnan(m["sd"]) else f" ± {m['sd']:.4f}")
                         + _partial(len(m["values"]), s["n"]))
        lines.append(f"| {label} | {s['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def interval_table(rows: dict[str, list[RunLike]], metrics: tuple[str, ...] = PAPER_ORDER) -> str:
    """Mean ± sd over seeds with the seeds' mean 95% test bootstrap interval, ``0.041 ± 0.006
    [0.024, 0.060]``: the spread says how much the seed moves a number, the interval how much
    the finite test split does."""
    lines = ["| setting | seeds | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for label, runs in rows.items():
        docs = [load_metrics(r) for r in runs]
        cells = []
        for k in metrics:
            vals = [d["metrics"][k] for d in docs if d["metrics"].get(k) is not None]
            if not vals:
                cells.append("")
                continue
            mean = sum(vals) / len(vals)
            cell = f"{mean:.3f}"
            if len(vals) > 1:
                cell += f" ± {math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)):.3f}"
            cis = [d.get("ci", {}).get(k) for d in docs]
            cis = [c for c in cis if c and None not in c]
            if cis:
                cell += f" [{sum(c[0] for c in cis) / len(cis):.3f}, {sum(c[1] for c in cis) / len(cis):.3f}]"
            cells.append(cell + _partial(len(vals), len(docs)))
        lines.append(f"| {label} | {len(docs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_rows(specs: list[str]) -> dict[str, list[str]]:
    """``['Base=runs/base-s*', ...]`` -> {label: sorted evaluated run folders}.

    ``LABEL=GLOB::FILE`` reads each folder's ``FILE`` instead of ``metrics.json`` (an
    evaluation with another inference rule) and yields those file paths. Folders without the
    file (a sweep still running) are left out and named in a warning; a label with no
    evaluated run is an error.
    """
    rows: dict[str, list[str]] = {}
    for spec in specs:
        if "=" not in spec:
            raise ConfigError(f"expected LABEL=GLOB, got {spec!r}")
        label, pattern = spec.split("=", 1)
        pattern, _, metrics_file = pattern.partition("::")
        found = sorted(p for p in glob.glob(pattern) if Path(p).is_dir())
        if metrics_file:
            found = [str(Path(p) / metrics_file) for p in found]
        runs = [p for p in found if metrics_path(p).is_file()]
        if not runs:
            raise ConfigError(f"{label}: no evaluated run folders match {pattern!r}")
        if len(runs) < len(found):
            log.warning(f"note: {label}: left out {len(found) - len(runs)} run(s) without metrics.json: "
                + ", ".join(p for p in found if p not in runs))
        rows[label] = runs
    return rows
