"""``facefair evaluate RUN``: predictions and every SPEC metric of a run on one split.

Writes ``predictions.csv`` (id, y, group, score, pred) and ``metrics.json`` for the test split
(``predictions-<split>.csv`` / ``metrics-<split>.json`` for another split), so any metric can
be recomputed later from the CSV without the model. Evaluating with overridden method
options (e.g. FineFACE's ``inference=raw``) appends a tag: ``metrics-inference-raw.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_json
from .data.base import FaceData, Task
from .data.from_config import attach_cache, reader_options
from .data.loader import SplitImages
from .errors import ConfigError
from .inference import load_run, predict
from .metrics import FairnessReport, fairness_report, write_predictions

log = logging.getLogger(__name__)


def output_names(split: str, tag: str = "", cross: bool = False) -> tuple[str, str]:
    """(predictions file, metrics file) names of a split (and option tag) inside a run folder.
    A cross-dataset evaluation's split (``all`` by default, or ``test``) is in its document, not
    in its name."""
    shown = "" if split == "test" or (cross and split == "all") else split
    suffix = "".join(f"-{p}" for p in (shown, tag) if p)
    return f"predictions{suffix}.csv", f"metrics{suffix}.json"


def options_tag(options: dict[str, Any] | None) -> str:
    """A file-name-safe tag for overridden method options: {'inference': 'raw'} -> 'inference-raw'."""
    return _safe("-".join(f"{k}-{v}" for k, v in sorted((options or {}).items())))


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def evaluate(run: str | Path, split: str = "test", checkpoint: str = "best", n_boot: int = 1000,
             ci_level: float = 0.95, progress: bool | None = None,
             method_options: dict[str, Any] | None = None) -> FairnessReport:
    """Predict ``split`` with the run's selected weights; write predictions and metrics.

    Parameters
    ----------
    run
        the run folder.
    split
        train, val or test.
    checkpoint
        ``best`` or ``last``.
    n_boot
        bootstrap replicates for the intervals (0: none).
    ci_level
        the intervals' level.
    progress
        a progress bar (default: the run's setting).
    method_options
        override the run's method options for this evaluation only; the output
        files get a tag (``metrics-inference-raw.json``).
    """
    run = Path(run)
    cfg, task, method, model, device = load_run(run, checkpoint, method_options)
    if progress is not None:
        cfg.progress = progress
    ds = SplitImages(task, task.indices(split), cfg.size)
    out = predict(method, model, ds, cfg, device, desc=f"evaluate {split}")
    doc = {"run": str(run), "split": split, "checkpoint": checkpoint, "dataset": cfg.dataset,
           "target": cfg.target, "protected": cfg.protected, "method": cfg.method,
           "arch": cfg.arch, "size": cfg.size, "method_options": cfg.method_options, "seed": cfg.seed}
    return write_evaluation(run, task, out, output_names(split, options_tag(method_options)), doc, n_boot, ci_level,
                  cfg.seed, f"{run} ({split})")


def write_evaluation(run: Path, task: Task, out: Any, names: tuple[str, str], doc: dict[str, Any], n_boot: int,
           ci_level: float, seed: int, source: str) -> FairnessReport:
    """Write the predictions CSV and the metrics JSON (atomically) of one evaluation."""
    groups = [task.group_classes[g] for g in out.group]
    ids = [str(task.data.ids[i]) for i in out.index]
    write_predictions(run / names[0], ids, out.y, groups, out.score, out.pred)
    report = fairness_report(out.y, out.pred, groups, n_boot=n_boot, ci_level=ci_level, seed=seed,
                             source=source, score=out.score)
    if target_within_protected(task.target, task.protected):
        label_only(report, task.target, task.protected)
    skipped = task.skipped()
    write_json(run / names[1], {**doc, "scored": len(ids), "skipped": skipped, **report.to_dict()})
    if skipped:
        log.info(f"note: {len(skipped)} file(s) could not be scored (no label, or a label the task needs is "
                 f"missing); each is listed under 'skipped' in {run / names[1]}")
    return report


#: the metrics that compare rates between groups; where every group holds one class of the
#: target they are undefined (TPR, FPR) or only restate the label (selection rates)
RATE_GAPS = ("demographic_parity_diff", "equal_opportunity_diff", "equalized_odds_mean", "equalized_odds_sum",
             "tpr", "best_group_tpr", "worst_group_tpr")


def target_within_protected(target: str, protected: str) -> bool:
    """Is the target one of the protected attribute's parts (gender within race+gender)?"""
    return target in [p.strip() for p in protected.split("+")]


def label_only(report: FairnessReport, target: str, protected: str) -> None:
    """FineFACE Tables 2-4 measure gender accuracy per race x gender group: each group holds
    one class, so rate gaps are undefined or restate the label. Say so once and leave them out;
    the accuracy columns (per group, Max/Min, DoB) are the measure."""
    for k in RATE_GAPS:
        if k in report.overall:
            report.overall[k] = float("nan")
        if report.ci is not None:
            report.ci.pop(k, None)
    report.warnings = [(f"the target '{target}' is part of the protected attribute '{protected}': every group "
                       "holds one class, so TPR/FPR gaps are undefined and selection-rate gaps restate the label; "
                       "they are left out. Read the group accuracies, Max/Min and DoB")]


def cross_task(data: FaceData, target: str, protected: str, positive_class: str,
               positive: str | None = None) -> Task:
    """The evaluation dataset's task, its target coded like the training task's.

    Why: a FairFace model's class 1 is "Male"; CelebA's ``Male`` attribute calls its class 1
    "Male" too, UTKFace's gender uses FairFace's names, but a user's manifest may say "m" or
    "1". ``positive`` names the evaluation class that means the model's positive class;
    without it the class called like the model's positive class is taken. Unlike training,
    the target may also be the protected attribute (gender accuracy per gender, FineFACE
    Table 4).
    """
    y_codes, y_classes = data.attribute(target)
    want = positive if positive is not None else positive_class
    if want not in y_classes:
        raise ConfigError(f"dataset {data.name}: target '{target}' has classes {', '.join(map(repr, y_classes))}, "
                          f"none called {want!r} (the model's positive class is {positive_class!r}); "
                          "name the evaluation class meaning it with --positive")
    if len(y_classes) != 2:
        raise ConfigError(f"dataset {data.name}: target '{target}' has {len(y_classes)} classes "
                          f"({', '.join(y_classes)}); facefair targets are binary")
    g, g_classes = data.attribute(protected)
    y = (np.asarray(y_codes) == y_classes.index(want)).astype(np.int64)
    other = next(c for c in y_classes if c != want)
    return Task(data, target, protected, y, [other, want], np.asarray(g, dtype=np.int64), g_classes,
                valid=~data.missing(target, protected))


def cross_tag(dataset: str, name: str | None = None, method_options: dict[str, Any] | None = None) -> str:
    """The file tag of a cross-dataset evaluation: ``on-<dataset>`` unless named, then any
    overridden method options (``on-celeba-inference-raw``)."""
    return "-".join(t for t in (_safe(name or f"on-{dataset}"), options_tag(method_options)) if t)


def evaluate_on(run: str | Path, dataset: str, root: str | Path | None = None, target: str | None = None,
                protected: str | None = None, positive: str | None = None, split: str = "all",
                dataset_options: dict[str, Any] | None = None, name: str | None = None,
                checkpoint: str = "best", n_boot: int = 1000, ci_level: float = 0.95,
                progress: bool | None = None,
                method_options: dict[str, Any] | None = None) -> FairnessReport:
    """Cross-dataset evaluation: a run's model on another dataset's ``split`` (FineFACE Table 3).

    The model sees the images at its own resolution. Protected labels are not passed to the
    model (they mean other groups here), so a method that needs them at inference
    (domain-independent ``conditional``) is refused. Writes ``predictions-on-<dataset>.csv``
    and ``metrics-on-<dataset>.json`` (or ``name``) in the run folder.

    Parameters
    ----------
    run
        the trained run folder.
    dataset
        the other dataset's reader (celeba, utkface, fairface, manifest).
    root
        its folder, in its official layout.
    target
        its target attribute (default: the run's target name).
    protected
        its protected attribute (default: the run's).
    positive
        its target class that means the model's positive class (default: the class of
        the same name).
    split
        ``all`` (every image: the model never saw this dataset, the default), or one of
        its splits; the metrics file records which and how many were scored.
    dataset_options
        the reader's options (``manifest=FILE``).
    name
        the file tag instead of ``on-<dataset>``.
    checkpoint
        ``best`` or ``last``.
    n_boot
        bootstrap replicates (0: none).
    ci_level
        the intervals' level.
    progress
        a progress bar (default: the run's setting).
    method_options
        override the run's method options for this evaluation.
    """
    from .data.registry import load_dataset

    run = Path(run)
    # the training data are not needed: the run folder keeps its class and group names
    cfg, train_task, method, model, device = load_run(run, checkpoint, method_options, data=False)
    if progress is not None:
        cfg.progress = progress
    data = load_dataset(dataset, root, **reader_options(dataset, dataset_options, cfg.size, cfg.split_seed))
    for note in data.notes:
        log.info(f"note: {note}")
    if data.images is None:
        attach_cache(data, cfg.size, "auto")
    target = target or cfg.target
    protected = protected or cfg.protected
    task = cross_task(data, target, protected, train_task.y_classes[1], positive)
    ds = SplitImages(task, task.indices(split), cfg.size)
    out = predict(method, model, ds, cfg, device, desc=f"evaluate on {data.name} {split}", pass_groups=False)
    tag = cross_tag(dataset, name, method_options)
    doc = {"run": str(run), "split": split, "checkpoint": checkpoint, "dataset": dataset, "root": str(root),
           "trained_on": cfg.dataset, "target": target, "protected": protected,
           "positive": task.y_classes[1], "method": cfg.method, "arch": cfg.arch, "size": cfg.size,
           "method_options": cfg.method_options, "seed": cfg.seed}
    return write_evaluation(run, task, out, output_names(split, tag, cross=True), doc, n_boot, ci_level, cfg.seed,
                  f"{run} on {data.name} ({split})")
