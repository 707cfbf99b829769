"""facefair: measure and reduce demographic bias in facial-attribute classifiers.

The Python API mirrors the CLI::

    import facefair as ff
    cfg = ff.TrainConfig(dataset="synthetic", target="smile", protected="group", epochs=3)
    ff.train(cfg, "runs/base")
    report = ff.evaluate("runs/base")          # writes predictions.csv and metrics.json
    print(report.format_table())
    ff.mitigate("asac", "runs/base", "runs/asac", {"attack": "fgsm"}, epochs=10)
    ff.postprocess("runs/base", "runs/base-eo", "equalized_odds")   # group thresholds on validation
    ff.select(["ERM=runs/erm-s*", "FF=runs/ff-s*"], ["equalized_odds_mean<=0.03"])  # validation only
    ff.audit("audit", "celeba", "data/celeba", "Smiling", "Male", model_file="m.pt", normalize="imagenet")
    ff.robustness("runs/asac")                  # ASAC noise vs M before/after (JSON + PNG)
    ff.explain_run("runs/ff", "cam", compare="runs/base")  # CAM pictures side by side (PNG)
    ff.train_generator(ff.GeneratorConfig(dataset="celeba", root="data/celeba"), "gens/celeba64")
    ff.write_report(["runs/base", "runs/asac"], "report.html")
    ff.fairness_report(y, pred, group)          # metrics of any predictions (numpy only)
    ff.run_experiment(ff.load_experiment("asac_table1"), "runs/exp")
    ff.show_messages()                          # print progress messages, as the CLI does

Nouns (what a run is and holds): ``TrainConfig``, ``RunFolder``, ``LoadedRun``,
``Experiment``, ``FairnessReport``, ``GeneratorConfig``. Verbs (what one does): ``prepare``, ``train``,
``mitigate``, ``postprocess``, ``train_generator``, ``load_generator``, ``evaluate``, ``evaluate_on``, ``predict``, ``load_run``,
``robustness``, ``explain_run``, ``write_report``, ``compare``, ``select``, ``audit``,
``fairness_report``, ``load_experiment``, ``run_experiment``. Names are imported lazily so that ``facefair.fairness_report`` works
without torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    # configuration and run folders
    "TrainConfig": "facefair.config",
    "RunFolder": "facefair.runfolder",
    "LoadedRun": "facefair.inference",
    # data
    "DATASETS": "facefair.data",
    "load_dataset": "facefair.data",
    "prepare": "facefair.data",
    # models and methods
    "build_model": "facefair.models",
    "get_method": "facefair.methods",
    "GeneratorConfig": "facefair.generative",
    "train_generator": "facefair.generative",
    "load_generator": "facefair.generative",
    # training and mitigation
    "train": "facefair.trainer",
    "mitigate": "facefair.mitigation",
    "postprocess": "facefair.mitigation",
    # using a trained run
    "load_run": "facefair.inference",
    "predict": "facefair.inference",
    "evaluate": "facefair.evaluation",
    "evaluate_on": "facefair.evaluation",
    "robustness": "facefair.analysis",
    "explain_run": "facefair.explain",
    "regions_run": "facefair.analysis.regions",
    "write_report": "facefair.report.html",
    # comparing, choosing, auditing
    "compare": "facefair.analysis.comparison",
    "select": "facefair.selection",
    "audit": "facefair.auditing",
    "load_model_file": "facefair.model_files",
    "write_model_card": "facefair.report.model_card",
    # metrics (numpy only)
    "FairnessReport": "facefair.metrics",
    "fairness_report": "facefair.metrics",
    "read_predictions": "facefair.metrics",
    "intersect": "facefair.metrics",
    "METRIC_NAMES": "facefair.metrics",
    # experiments (the papers' tables)
    "Experiment": "facefair.experiments",
    "load_experiment": "facefair.experiments",
    "run_experiment": "facefair.experiments",
    # messages and errors
    "show_messages": "facefair.logs",
    "FaceFairError": "facefair.errors",
    "DataError": "facefair.errors",
    "ConfigError": "facefair.errors",
}

__all__ = ["__version__", *_LAZY]  # noqa: PLE0604 - the lazy names are strings


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'facefair' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (``dir(facefair)`` and tab completion show them before any import)."""
    return sorted(set(__all__) | {"__version__"})
