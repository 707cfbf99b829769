"""``facefair ablate METHOD --from BASE``: one-factor-at-a-time ablations over a base run.

The ASAC paper's Tables 4, 5 and 6 vary one option at a time (curriculum order, the eps set,
alpha) with the others at their defaults. Each ``--vary KEY=V1,V2`` is one such table
(``;`` separates values that themselves contain commas, as eps sets do). Every variant is an
ordinary mitigation run in ``OUT/<key>=<value>``; finished runs are skipped, so the command
resumes. The rows (every SPEC metric on the test split) go to ``OUT/ablation.json`` and
``OUT/ablation.md``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from .atomic import write_json
from .errors import ConfigError
from .evaluation import evaluate
from .methods import get_method
from .metrics import METRIC_NAMES
from .mitigation import mitigate
from .options import split_kv
from .runfolder import RunFolder

log = logging.getLogger(__name__)


def parse_vary(items: list[str]) -> list[tuple[str, list[str]]]:
    """``['order=ascending,none', 'eps=0,0.01;0,0.03']`` -> [(key, values), ...]."""
    out = []
    for item in items:
        key, vals = split_kv(item, "--vary")
        values = [v.strip() for v in (vals.split(";") if ";" in vals else vals.split(",")) if v.strip()]
        if not values:
            raise ConfigError(f"--vary {key}: no values")
        out.append((key, values))
    return out


def _slug(key: str, value: str) -> str:
    return f"{key}={re.sub(r'[^A-Za-z0-9.,_-]+', '_', value)}"


def ablate(method: str, base_run: str | Path, out: str | Path, vary: list[tuple[str, list[str]]],
           options: dict[str, Any] | None = None, n_boot: int = 1000,
           **overrides: Any) -> list[dict[str, Any]]:
    """Run (or reuse) every variant and return its rows; also writes the JSON and a table.

    Parameters
    ----------
    method: the mitigation method whose options vary (asac).
    base_run: the trained run every variant fine-tunes.
    out: the folder holding one run folder per variant and the tables.
    vary: (option, values) pairs; each pair is one table, the other options at their defaults.
    options: the method options every variant shares.
    n_boot: bootstrap replicates of each variant's evaluation.
    **overrides: trainer options of every variant (as :func:`mitigate`).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    options = dict(options or {})
    rows = []
    for key, values in vary:
        for value in values:
            opts = {**options, key: value}
            get_method(method, opts)  # reject a bad option before any training
            run = out / _slug(key, value)
            if RunFolder(run).metrics_file.is_file():
                log.info(f"{run.name}: done already")
            else:
                mitigate(method, base_run, run, opts, resume=RunFolder(run).config_file.is_file(), **overrides)
                evaluate(run, "test", n_boot=n_boot, progress=overrides.get("progress"))
            doc = json.loads(RunFolder(run).metrics_file.read_text())
            rows.append({"factor": key, "value": value, "run": str(run), "metrics": doc["metrics"],
                         "ci": doc.get("ci", {})})
    write_json(out / "ablation.json", {"method": method, "base": str(base_run), "rows": rows})
    (out / "ablation.md").write_text(format_rows(rows))
    return rows


def format_rows(rows: list[dict[str, Any]], metrics: tuple[str, ...] = (
        "equalized_odds_mean", "equal_opportunity_diff", "demographic_parity_diff", "accuracy")) -> str:
    """A markdown table in the ASAC papers' column order (DEO, DEOp, DDP, ACC) plus the rest."""
    rest = [m for m in METRIC_NAMES if m not in metrics]
    cols = [*metrics, *rest]
    lines = ["| factor | value | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for r in rows:
        cells = [("" if r["metrics"].get(c) is None else f"{r['metrics'][c]:.4f}") for c in cols]
        lines.append(f"| {r['factor']} | {r['value']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
