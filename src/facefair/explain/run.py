"""``facefair explain RUN``: attribution pictures of a run's test images (optionally beside
a second run, e.g. the baseline or the model before mitigation), PNG + JSON.

Images are chosen by id (``ids``) or as a seeded sample of the split; maps are computed in
batches of ``batch_size`` so memory stays bounded for many images.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.loader import SplitImages, to_input
from ..errors import ConfigError
from ..trainer import load_run
from .cam import model_cams
from .figures import overlay_grid

METHODS = ("cam",)


def pick_images(task: Any, split: str, ids: Sequence[str] | None, n: int, seed: int) -> np.ndarray:
    """Dataset indices of the chosen ids (any split), or a seeded sample of ``n`` from ``split``."""
    if ids:
        where = {str(v): i for i, v in enumerate(task.data.ids)}
        missing = [i for i in ids if str(i) not in where]
        if missing:
            raise ConfigError(f"image id(s) not in dataset {task.data.name}: {', '.join(missing[:5])}")
        return np.array([where[str(i)] for i in ids])
    return task.indices(split, n, seed)


def explain_run(run: str | Path, method: str = "cam", compare: str | Path | None = None,
                ids: Sequence[str] | None = None, n: int = 6, split: str = "test", seed: int = 0,
                out: str | Path | None = None, batch_size: int = 32, log: Any = print) -> Path:
    """Write ``<out>/<method>.png`` (one row per image) and ``<method>.json``; returns the PNG."""
    if method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    run = Path(run)
    out = Path(out) if out else run / "explain"
    cfg, task, _, model, device = load_run(run, log=log)
    idx = pick_images(task, split, ids, n, seed)
    ds = SplitImages(task, idx, cfg.size)
    models = [(run.name or str(run), model, device)]
    if compare is not None:
        ccfg, _, _, cmodel, cdev = load_run(compare, log=log)
        if ccfg.size != cfg.size or ccfg.dataset != cfg.dataset:
            raise ConfigError(f"{compare} ({ccfg.dataset}, {ccfg.size} px) does not match {run} "
                              f"({cfg.dataset}, {cfg.size} px); compare runs on the same data and size")
        models.append((Path(compare).name or str(compare), cmodel, cdev))
    images, columns = [], {}
    for start in range(0, len(idx), batch_size):
        b = ds[list(range(start, min(start + batch_size, len(idx))))]
        x = to_input(b["x"], "cpu")
        images.append(x)
        for label, m, dev in models:
            for name, maps in model_cams(m, x.to(dev)).items():
                key = f"{label}:\n{name}" if len(models) > 1 else name
                columns.setdefault(key, []).append(maps.cpu())
    x = torch.cat(images)
    cols = [(k, torch.cat(v)) for k, v in columns.items()]
    img_ids = [str(task.data.ids[i]) for i in idx]
    labels = [f"{i}\n{task.y_classes[task.y[j]]}, {task.group_classes[task.group[j]]}" for i, j in zip(img_ids, idx)]
    title = f"{method.upper()}: {cfg.target} ({cfg.method}, {cfg.arch} {cfg.size}px)" + (
        f" vs {models[1][0]}" if compare is not None else "")
    png = overlay_grid(x, cols, out / f"{method}.png", labels, title)
    doc = {"run": str(run), "compare": str(compare) if compare else None, "method": method,
           "ids": img_ids, "columns": [k for k, _ in cols], "png": png.name}
    tmp = out / f".{method}.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, out / f"{method}.json")
    return png
