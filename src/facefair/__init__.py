"""facefair: measure and reduce demographic bias in facial-attribute classifiers.

The Python API mirrors the CLI::

    import facefair as ff
    cfg = ff.TrainConfig(dataset="synthetic", target="smile", protected="group", epochs=3)
    ff.train(cfg, "runs/base")
    report = ff.evaluate("runs/base")          # writes predictions.csv and metrics.json
    print(report.format_table())
    ff.mitigate("asac", "runs/base", "runs/asac", {"attack": "fgsm"}, epochs=10)
    ff.robustness("runs/asac")                  # ASAC noise vs M before/after (JSON + PNG)
    ff.explain_run("runs/ff", "cam", compare="runs/base")  # CAM pictures side by side (PNG)
    ff.fairness_report(y, pred, group)          # metrics of any predictions (numpy only)

Names are imported lazily so that ``facefair.metrics`` works without torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "TrainConfig": "facefair.config",
    "train": "facefair.trainer",
    "load_run": "facefair.trainer",
    "evaluate": "facefair.evaluation",
    "mitigate": "facefair.mitigation",
    "robustness": "facefair.analysis",
    "ablate": "facefair.ablation",
    "explain_run": "facefair.explain",
    "load_dataset": "facefair.data",
    "prepare": "facefair.data",
    "DATASETS": "facefair.data",
    "build_model": "facefair.models",
    "get_method": "facefair.methods",
    "fairness_report": "facefair.metrics",
    "read_predictions": "facefair.metrics",
    "intersect": "facefair.metrics",
    "METRIC_NAMES": "facefair.metrics",
    "FaceFairError": "facefair.errors",
    "DataError": "facefair.errors",
    "ConfigError": "facefair.errors",
}

__all__ = ["__version__", *_LAZY]  # noqa: PLE0604 - the lazy names are strings


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'facefair' has no attribute {name!r}")
