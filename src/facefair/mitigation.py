"""Mitigating a trained run: ``facefair mitigate NAME --from BASE_RUN`` fine-tunes it with a
method; ``facefair postprocess RUN`` thresholds its scores per group.

A mitigation run is an ordinary run folder: its config is the base run's (same data, task,
architecture, size and splits) with the method, its options and the fine-tuning budget
replaced, and ``init`` pointing at the base run's selected weights. ``evaluate`` and
``metrics`` read it like any other run.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any

from .analysis.comparison import validation_collapse
from .atomic import atomic_open
from .config import TrainConfig
from .data.loader import SplitImages
from .errors import ConfigError, DataError
from .evaluation import output_names, write_evaluation
from .inference import load_run, predict
from .methods import get_method, registered
from .methods.postprocess import decide, fit_thresholds
from .metrics import FairnessReport
from .runfolder import RunFolder, best_validation, validation_fields
from .trainer import RunResult, train

log = logging.getLogger(__name__)


def mitigation_config(method: str, base_run: str | Path, options: dict[str, Any] | None = None,
                      **overrides: Any) -> TrainConfig:
    """The config of fine-tuning ``base_run`` with ``method``: method defaults, then overrides."""
    base = Path(base_run)
    cfg = RunFolder(base).config()
    if not RunFolder(base).checkpoint("best").is_file():
        raise ConfigError(f"{base}: no checkpoints/best.pt; train the base run first")
    cls = registered().get(method)
    get_method(method, options)  # validates the name and the options now, not mid-run
    cfg = dataclasses.replace(cfg, method=method, method_options=dict(options or {}), init=str(base),
                              weights=None, **(getattr(cls, "finetune_defaults", {}) or {}))
    cfg.override(overrides)
    return cfg


def mitigate(method: str, base_run: str | Path, out: str | Path, options: dict[str, Any] | None = None,
             resume: bool = False, use_existing: bool = False, **overrides: Any) -> RunResult:
    """Fine-tune ``base_run`` with ``method`` into the run folder ``out``.

    Parameters
    ----------
    method
        a mitigation method (asac, erm, reweight, adversarial_debias, ...).
    base_run
        a trained run folder (its ``best`` weights are the start).
    out
        the new run folder.
    options
        the method's options (``facefair methods NAME``).
    resume
        continue a run cut short in ``out`` (its saved config wins).
    use_existing
        write the run into a folder that holds other files (refused otherwise).
    **overrides
        trainer options over the base run's config and the method's fine-tuning
        defaults (``epochs=10``, ``lr=1e-4``, ...).
    """
    if resume and RunFolder(out).has_config():
        res = train(RunFolder(out).config(), out, resume=True)
        base_run = RunFolder(out).config().init or base_run
    else:
        cfg = mitigation_config(method, base_run, options, **overrides)
        res = train(cfg, out, resume=resume, use_existing=use_existing)
    for line in mitigation_warnings(base_run, out):
        log.warning(f"warning: {line}")
    return res


#: a validation gap this much above the base's is "worse than the base" (fractions)
WORSE_BY = 0.01


def mitigation_warnings(base_run: str | Path, run: str | Path) -> list[str]:
    """What a finished mitigation must say instead of a plain "done": it ended worse than its
    base on DEO (the gap ASAC targets) on validation, or it collapsed to a constant answer or to
    the group. Validation figures only (the selected epoch's), so nothing peeks at the test split.

    Parameters
    ----------
    base_run
        the run it started from.
    run
        the mitigated run.
    """
    try:
        before, after = best_validation(base_run), best_validation(run)
    except DataError:
        return []
    out = []
    b, a = before.get("equalized_odds_mean"), after.get("equalized_odds_mean")
    if b is not None and a is not None and a > b + WORSE_BY:
        out.append(f"{run} ended worse than its base on DEO (equalized odds, validation): {b:.3f} -> {a:.3f}")
    collapsed = validation_collapse(after)
    if collapsed:
        out.append(f"{run} collapsed on validation: {collapsed}")
    return out


def postprocess(base_run: str | Path, out: str | Path, constraint: str = "equalized_odds", seed: int = 0,
                n_boot: int = 1000, ci_level: float = 0.95, progress: bool | None = None,
                use_existing: bool = False) -> FairnessReport:
    """Fit group thresholds (Hardt et al. 2016) on ``base_run``'s scores of every validation
    image (more than a ``max_val`` subset the base chose its epoch on: thresholds are the fit
    here, and still no test image takes part) and write the thresholded model as the run
    folder ``out``; returns its test metrics.

    ``out`` is an ordinary run: its config is the base run's with method ``postprocess`` (the
    rule in its options), its weights are the base run's, and it holds validation and test
    predictions and metrics, so ``evaluate``, ``table``, ``report`` and ``select`` read it.

    Parameters
    ----------
    base_run
        a trained run folder.
    out
        the new run folder (made; a folder holding other files is refused).
    constraint
        equalized_odds, equal_opportunity or demographic_parity.
    seed
        seeds the per-image coins of randomised decisions.
    n_boot
        bootstrap replicates for the test metrics' intervals (0: none).
    ci_level
        the intervals' level.
    progress
        a progress bar (default: the base run's setting).
    use_existing
        write into a folder that holds other files.
    """

    base, folder = RunFolder(base_run), RunFolder(out)
    if base.path.resolve() == folder.path.resolve():
        raise ConfigError(f"{out}: the post-processed run needs its own folder, not the base run's")
    cfg, task, method, model, device = load_run(base.path)
    if progress is not None:
        cfg.progress = progress
    scores = {split: predict(method, model, SplitImages(task, task.indices(split), cfg.size), cfg, device,
                             desc=f"score {split}") for split in ("val", "test")}
    val = scores["val"]
    fit = fit_thresholds(val.score, val.y, val.group, constraint, list(task.group_classes))
    options = {"constraint": constraint, "base_method": cfg.method, "base_options": cfg.method_options,
               "groups": fit.groups, "thresholds": [r.thresholds for r in fit.rules],
               "weights": [r.weights for r in fit.rules], "seed": seed}
    new = dataclasses.replace(cfg, method="postprocess", method_options=options, init=str(base.path),
                              weights=None)
    get_method("postprocess", options)  # the options read back
    with folder.claim(use_existing):
        new.save(folder.config_file)
        folder.write_task(task)
        with atomic_open(folder.checkpoint("best"), "wb") as fh, open(base.checkpoint("best"), "rb") as src:
            shutil.copyfileobj(src, fh)
        doc = {"run": str(folder.path), "checkpoint": "best", "dataset": cfg.dataset, "target": cfg.target,
               "protected": cfg.protected, "method": "postprocess", "arch": cfg.arch, "size": cfg.size,
               "method_options": options, "seed": cfg.seed, "base_run": str(base.path)}
        reports = {}
        for split, o in scores.items():
            o.pred = decide(fit.rules, o.score, o.group, o.index, seed)
            reports[split] = write_evaluation(folder.path, task, o, output_names(split), {**doc, "split": split},
                                              n_boot if split == "test" else 0, ci_level, cfg.seed,
                                              f"{folder.path} ({split})")
        # the validation figures a choice between runs reads (best.json + its log line), as a trained run has
        folder.write_log([{"epoch": 0, **validation_fields(reports["val"].overall, val.y),
                           "val_expected_accuracy": fit.expected_accuracy}],
                         {"epoch": 0, "select": "postprocess", "constraint": constraint, "val_rates": fit.rates})
    log.info(f"{folder.path}: {constraint} thresholds fitted on {len(val.y)} validation images "
             f"(expected validation accuracy {fit.expected_accuracy:.4f})")
    return reports["test"]

