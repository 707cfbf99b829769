"""``facefair mitigate NAME --from BASE_RUN``: fine-tune a trained model with a method.

A mitigation run is an ordinary run folder: its config is the base run's (same data, task,
architecture, size and splits) with the method, its options and the fine-tuning budget
replaced, and ``init`` pointing at the base run's selected weights. ``evaluate`` and
``metrics`` read it like any other run.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .errors import ConfigError
from .methods import get_method, registered
from .runfolder import RunFolder
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
    method: a mitigation method (asac, erm, reweight, adversarial_debias, ...).
    base_run: a trained run folder (its ``best`` weights are the start).
    out: the new run folder.
    options: the method's options (``facefair methods NAME``).
    resume: continue a run cut short in ``out`` (its saved config wins).
    use_existing: write the run into a folder that holds other files (refused otherwise).
    **overrides: trainer options over the base run's config and the method's fine-tuning
        defaults (``epochs=10``, ``lr=1e-4``, ...).
    """
    if resume and RunFolder(out).has_config():
        return train(RunFolder(out).config(), out, resume=True)
    cfg = mitigation_config(method, base_run, options, **overrides)
    return train(cfg, out, resume=resume, use_existing=use_existing)
