"""``facefair evaluate RUN``: predictions and every SPEC metric of a run on one split.

Writes ``predictions.csv`` (id, y, group, score, pred) and ``metrics.json`` for the test split
(``predictions-<split>.csv`` / ``metrics-<split>.json`` for another split), so any metric can
be recomputed later from the CSV without the model. Evaluating with overridden method
options (e.g. FineFACE's ``inference=raw``) appends a tag: ``metrics-inference-raw.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .data.loader import SplitImages
from .metrics import FairnessReport, fairness_report, write_predictions
from .trainer import load_run, predict


def output_names(split: str, tag: str = "") -> tuple[str, str]:
    """(predictions file, metrics file) names of a split (and option tag) inside a run folder."""
    suffix = "".join(f"-{p}" for p in ((split if split != "test" else ""), tag) if p)
    return f"predictions{suffix}.csv", f"metrics{suffix}.json"


def options_tag(options: dict[str, Any] | None) -> str:
    """A file-name-safe tag for overridden method options: {'inference': 'raw'} -> 'inference-raw'."""
    parts = [f"{k}-{v}" for k, v in sorted((options or {}).items())]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in "-".join(parts))


def evaluate(run: str | Path, split: str = "test", checkpoint: str = "best", n_boot: int = 1000,
             ci_level: float = 0.95, progress: bool | None = None, log: Any = print,
             method_options: dict[str, Any] | None = None) -> FairnessReport:
    """Predict ``split`` with the run's selected weights and write predictions and metrics.

    ``method_options`` override the run's method options for this evaluation only.
    """
    run = Path(run)
    cfg, task, method, model, device = load_run(run, checkpoint, log, method_options)
    if progress is not None:
        cfg.progress = progress
    ds = SplitImages(task, task.indices(split), cfg.size)
    out = predict(method, model, ds, cfg, device, desc=f"evaluate {split}")
    groups = [task.group_classes[g] for g in out.group]
    ids = [str(task.data.ids[i]) for i in out.index]
    pred_name, metrics_name = output_names(split, options_tag(method_options))
    write_predictions(run / pred_name, ids, out.y, groups, out.score, out.pred)
    report = fairness_report(out.y, out.pred, groups, n_boot=n_boot, ci_level=ci_level,
                             seed=cfg.seed, source=f"{run} ({split})")
    doc = {"run": str(run), "split": split, "checkpoint": checkpoint, "dataset": cfg.dataset,
           "target": cfg.target, "protected": cfg.protected, "method": cfg.method,
           "arch": cfg.arch, "size": cfg.size, "method_options": cfg.method_options,
           **report.to_dict()}
    tmp = run / f".{metrics_name}.tmp"
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, run / metrics_name)
    return report
