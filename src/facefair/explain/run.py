"""``facefair explain RUN --method ig|cam``: attribution pictures of a run's test images,
optionally beside a reference run (the model before mitigation, a baseline), PNG + JSON.

Images are chosen by id (``ids``) or as a seeded sample of the split; maps are computed in
batches of ``batch_size`` images (IG additionally chunks its interpolation steps), so memory
stays bounded for many or large images. With ``compare`` the reference's columns come first,
so a row reads before -> after, as in the ASAC paper's Figure 3.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import write_json
from ..data.loader import SplitImages, to_input
from ..errors import ConfigError
from ..inference import load_run
from .ablation import AblationExplainer
from .base import Explainer
from .cam import CAMExplainer
from .figures import overlay_grid
from .ig import IntegratedGradientsExplainer

log = logging.getLogger(__name__)

EXPLAINERS: dict[str, type[Explainer]] = {e.name: e for e in (IntegratedGradientsExplainer, CAMExplainer,
                                                              AblationExplainer)}
METHODS = tuple(EXPLAINERS)


def pick_images(task: Any, split: str, ids: Sequence[str] | None, n: int, seed: int) -> np.ndarray:
    """Dataset indices of the chosen ids (any split), or a seeded sample of ``n`` from ``split``."""
    if ids:
        where = {str(v): i for i, v in enumerate(task.data.ids)}
        missing = [i for i in ids if str(i) not in where]
        if missing:
            raise ConfigError(f"image id(s) not in dataset {task.data.name}: {', '.join(missing[:5])}")
        return np.array([where[str(i)] for i in ids])
    return task.indices(split, n, seed)


def make_explainer(method: str, run_method: Any, model: torch.nn.Module, explain_class: str,
                   options: dict[str, Any]) -> Explainer:
    """The named explainer; ``options`` go to its constructor (IG: steps, baseline, internal_batch_size)."""
    if method not in EXPLAINERS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    cls = EXPLAINERS[method]
    kwargs = options if cls in (IntegratedGradientsExplainer, AblationExplainer) else {}
    return cls(run_method, model, explain_class, **kwargs)  # type: ignore[call-arg]


def explain_run(run: str | Path, method: str = "cam", compare: str | Path | None = None,
                ids: Sequence[str] | None = None, n: int = 6, split: str = "test", seed: int = 0,
                out: str | Path | None = None, batch_size: int = 16, explain_class: str = "positive", **options: Any) -> Path:
    """Write ``<out>/<method>.png`` (one row per image) and ``<method>.json``; returns the PNG.

    Parameters
    ----------
    run
        the run folder to explain.
    method
        ``ig`` (Integrated Gradients, Captum) or ``cam`` (FineFACE's per-expert maps,
        Grad-CAM for other models).
    compare
        a reference run drawn first in each row (e.g. the model before mitigation).
    ids
        image ids to explain (default: a seeded sample of ``n``).
    n
        images to sample when ``ids`` is not given.
    split
        the split the images come from.
    seed
        the sample's seed.
    out
        the output folder (default ``RUN/explain``, where ``facefair report`` finds the pictures).
    batch_size
        images per pass.
    explain_class
        whose logit: ``positive`` (the attribute present), ``pred`` or ``true``.
    **options
        the explainer's options (IG: ``steps``, ``baseline``, ``internal_batch_size``).
    """
    if method not in EXPLAINERS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if batch_size < 1:
        raise ConfigError("--batch-size must be at least 1")
    run = Path(run)
    out = Path(out) if out else run / "explain"
    cfg, task, run_method, model, device = load_run(run)
    idx = pick_images(task, split, ids, n, seed)
    models = [(run.name or str(run), run_method, model, device)]
    if compare is not None:
        ccfg, _, cmethod, cmodel, cdev = load_run(compare)
        if ccfg.size != cfg.size or ccfg.dataset != cfg.dataset:
            raise ConfigError(f"{compare} ({ccfg.dataset}, {ccfg.size} px) does not match {run} "
                              f"({cfg.dataset}, {cfg.size} px); compare runs on the same data and size")
        models.insert(0, (Path(compare).name or str(compare), cmethod, cmodel, cdev))
    return explain_models(models, task, idx, cfg.size, method, out, f"{cfg.target} ({cfg.arch} {cfg.size}px)",
                          {"run": str(run), "compare": str(compare) if compare else None},
                          batch_size, explain_class, **options)


def explain_models(models: list[tuple[str, Any, torch.nn.Module, torch.device]], task: Any, idx: np.ndarray,
                   size: int, method: str, out: str | Path, what_model: str, doc: dict[str, Any],
                   batch_size: int = 16, explain_class: str = "positive", **options: Any) -> Path:
    """Attribution pictures of ``models`` (label, method, model, device) on the images ``idx``
    of ``task`` at ``size`` px: ``<out>/<method>.png`` and its JSON (``doc`` plus what was
    drawn). The one drawing path behind ``facefair explain`` and ``facefair audit``.

    Parameters
    ----------
    models
        the models, each drawn as its own columns (a reference first).
    task
        the task whose images, labels and groups are drawn.
    idx
        dataset indices of the images.
    size
        the images' side in pixels.
    method
        ``ig`` or ``cam``.
    out
        the output folder.
    what_model
        the title's words for the model (target, architecture, size).
    doc
        fields the JSON starts with (the run, the reference).
    batch_size
        images per pass.
    explain_class
        whose logit: ``positive``, ``pred`` or ``true``.
    **options
        the explainer's options.
    """
    out = Path(out)
    ds = SplitImages(task, idx, size)
    explainers = [(label, make_explainer(method, m, mdl.eval(), explain_class, options), dev)
                  for label, m, mdl, dev in models]
    images: list[torch.Tensor] = []
    columns: dict[str, list[torch.Tensor]] = {}
    scores: dict[str, list[float]] = {label: [] for label, _, _ in explainers}
    for start in range(0, len(idx), batch_size):
        b = ds[list(range(start, min(start + batch_size, len(idx))))]
        x = to_input(b["x"], "cpu")
        images.append(x)
        for label, ex, dev in explainers:
            xd, y, g = x.to(dev), b["y"].to(dev), b["group"].to(dev)
            with torch.no_grad():
                scores[label] += ex.forward(xd, g).softmax(1)[:, 1].tolist()
            for name, maps in ex(xd, y, g).items():
                key = f"{label}:\n{name}" if len(explainers) > 1 else name
                columns.setdefault(key, []).append(maps.cpu())
    x = torch.cat(images)
    cols = [(k, torch.cat(v)) for k, v in columns.items()]
    img_ids = [str(task.data.ids[i]) for i in idx]
    positive = task.y_classes[1]
    labels = [f"{i}\n{task.y_classes[task.y[j]]}, {task.group_classes[task.group[j]]}" for i, j in zip(img_ids, idx)]
    what = {"positive": f"'{positive}'", "pred": "predicted class", "true": "true class"}[explain_class]
    kind = {"ig": "IG", "cam": "Grad-CAM", "ablation": "Patch ablation"}[method]
    fineface = any(m.name == "fineface" for _, m, _, _ in models)
    title = (f"{kind} of the {what} logit" + ("; FineFACE experts: each its own predicted class" if fineface and method == "cam" else "")
             + f": {what_model}; " + " | ".join(f"{lb} ({m.name})" for lb, m, _, _ in models))
    png = overlay_grid(x, cols, out / f"{method}.png", labels, title)
    doc = {**doc, "method": method, "explained_class": explain_class, "options": options, "target": task.target,
           "ids": img_ids, "labels": [task.y_classes[task.y[j]] for j in idx],
           "groups": [task.group_classes[task.group[j]] for j in idx],
           "scores": {lb: [round(s, 4) for s in v] for lb, v in scores.items()},
           "score_of": positive, "columns": [k for k, _ in cols], "png": png.name}
    write_json(out / f"{method}.json", doc)
    return png
