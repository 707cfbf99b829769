"""Where in the face a model finds its evidence, per group: the share of attribution mass in
each face region (:mod:`facefair.face_regions`) over many images, as FaceX summarises a
face classifier, with bootstrap intervals over images and the difference between groups.

An image's share of a region is the sum of |attribution| inside it over the image's total
(SPEC "Face regions"). For each group and class the mean share over the group's images is
reported with a percentile bootstrap over those images; each group is compared with the
first (the reference) by the difference of mean shares, bootstrapped over both groups'
images independently. A difference whose interval excludes 0 is beyond noise.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import write_json
from ..data.loader import SplitImages, to_input
from ..errors import ConfigError
from ..face_regions import (
    CELEBA_LANDMARKS_FILE,
    CELEBA_TEMPLATE,
    REGIONS,
    Landmarks,
    read_celeba_landmarks,
    read_template,
    region_maps,
    template,
)
from ..runfolder import RunFolder

log = logging.getLogger(__name__)


def shares(attributions: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """(N, R) share of |attribution| per region; ``attributions`` (N, H, W) or (N, C, H, W)."""
    mag = np.abs(attributions)
    if mag.ndim == 4:
        mag = mag.sum(1)
    out = np.zeros((len(mag), len(REGIONS)))
    for r in range(len(REGIONS)):
        out[:, r] = (mag * (maps == r)).sum((1, 2))
    total = out.sum(1, keepdims=True)
    return np.divide(out, total, out=np.full_like(out, np.nan), where=total > 0)


def _boot_means(x: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """(n_boot, R) means of resamples of the rows of ``x`` (none: one row of NaN, no interval)."""
    if n_boot < 1:
        return np.full((1, x.shape[1]), np.nan)
    pick = rng.integers(0, len(x), (n_boot, len(x)))
    return x[pick].mean(1)


def group_shares(s: np.ndarray, group: np.ndarray, y: np.ndarray, group_names: list[str], classes: list[str],
                 n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Mean shares per (class, group) with intervals, and each group minus the first, per class.

    Returns a document: ``cells`` [{class, group, n, share: {region: [mean, low, high]}}] and
    ``differences`` [{class, group, reference, region, diff, low, high, beyond_noise}].
    """
    rng = np.random.default_rng(seed)
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    keep = ~np.isnan(s).any(1)
    cells, diffs = [], []
    for c, cname in enumerate(classes):
        boots: dict[int, np.ndarray] = {}
        means: dict[int, np.ndarray] = {}
        for g, gname in enumerate(group_names):
            m = keep & (group == g) & (y == c)
            if m.sum() < 2:
                continue
            means[g], boots[g] = s[m].mean(0), _boot_means(s[m], rng, n_boot)
            ci = np.percentile(boots[g], [lo, hi], axis=0)
            cells.append({"class": cname, "group": gname, "n": int(m.sum()),
                          "share": {r: [float(means[g][k]), float(ci[0, k]), float(ci[1, k])]
                                    for k, r in enumerate(REGIONS)}})
        ref = min(boots) if boots else None
        for g in sorted(boots):
            if g == ref:
                continue
            d = boots[g] - boots[ref]
            ci = np.percentile(d, [lo, hi], axis=0)
            for k, r in enumerate(REGIONS):
                diffs.append({"class": cname, "group": group_names[g], "reference": group_names[ref], "region": r,
                              "diff": float(means[g][k] - means[ref][k]), "low": float(ci[0, k]),
                              "high": float(ci[1, k]), "beyond_noise": bool(ci[0, k] > 0 or ci[1, k] < 0)})
    if n_boot < 1:
        log.info("note: no bootstrap replicates: region shares have no intervals and no difference is called "
                 "beyond noise")
    return {"regions": list(REGIONS), "level": level, "n_boot": n_boot, "cells": cells, "differences": diffs}


def summary(doc: dict[str, Any]) -> str:
    """One sentence naming the regions whose share differs between groups beyond noise."""
    beyond = [d for d in doc["differences"] if d["beyond_noise"]]
    if doc.get("n_boot", 0) < 1:
        return "Region shares without intervals (no bootstrap replicates): no difference is called beyond noise."
    if not doc["differences"]:
        return "No two groups of one class had two or more images: no difference to report."
    if not beyond:
        return ("No region's share of the attribution differs between groups beyond noise "
                f"({100 * doc['level']:.0f}% bootstrap intervals over images).")
    parts = [f"{d['region']} ({'+' if d['diff'] > 0 else ''}{100 * d['diff']:.1f} points for {d['group']} vs "
             f"{d['reference']}, class {d['class']})" for d in sorted(beyond, key=lambda d: -abs(d["diff"]))]
    return ("Regions whose share of the attribution differs between groups beyond noise: " + "; ".join(parts) + ".")


def landmarks_for(data: Any, idx: np.ndarray, template_file: str | Path | None = None) -> Landmarks:
    """Landmarks of the images ``idx``: the user's template, CelebA's official file in the
    dataset root, a manifest's landmark columns, CelebA's template; else an error saying how
    to give them."""
    if template_file is not None:
        return read_template(template_file, len(idx))
    root = Path(str(data.root)) if getattr(data, "root", None) else None
    if root is not None and (root / CELEBA_LANDMARKS_FILE).is_file():
        return read_celeba_landmarks(root / CELEBA_LANDMARKS_FILE, data.ids[idx])
    own = getattr(data, "landmarks", None)
    if own is not None:
        return Landmarks(own.points[idx], own.frame, own.source, None if own.sizes is None else own.sizes[idx])
    if str(data.name).startswith("celeba"):
        return template(len(idx), *CELEBA_TEMPLATE, "CelebA alignment template (SPEC)")
    if str(data.name) == "synthetic":
        from ..data.synthetic import SYNTHETIC_TEMPLATE

        return template(len(idx), *SYNTHETIC_TEMPLATE, "the synthetic faces' drawing template")
    raise ConfigError(f"no landmarks for dataset {data.name}: give a template (--landmarks-template FILE.json, "
                      "{\"frame\": [W, H], \"points\": [[x, y] x 5]}) or landmark columns in a manifest")


def attribute_regions(explainer: Any, task: Any, idx: np.ndarray, size: int, landmarks: Landmarks,
                      batch_size: int = 16, device: torch.device | str = "cpu") -> np.ndarray:
    """(N, R) region shares of the explainer's raw attributions on the images ``idx``."""
    ds = SplitImages(task, idx, size)
    maps = region_maps(landmarks, size)
    out = []
    for start in range(0, len(idx), batch_size):
        pos = list(range(start, min(start + batch_size, len(idx))))
        b = ds[pos]
        x = to_input(b["x"], device)
        y, g = b["y"].to(device), b["group"].to(device)
        with torch.enable_grad():
            attr = explainer.attribute(x, explainer.target(x, y, g), g)
        out.append(shares(attr.cpu().numpy(), maps[pos]))
    return np.concatenate(out)


def region_report(explainer: Any, method: str, task: Any, idx: np.ndarray, size: int, out: str | Path,
                  template_file: str | Path | None = None, n_boot: int = 1000, batch_size: int = 16,
                  doc: dict[str, Any] | None = None, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Region shares per group and class of ``idx`` (``regions.json``) and the face-shaped
    picture (``regions.png``) in ``out``; returns the document."""
    from .region_figure import draw_region_shares

    out = Path(out)
    landmarks = landmarks_for(task.data, idx, template_file)
    s = attribute_regions(explainer, task, idx, size, landmarks, batch_size, device)
    result = group_shares(s, task.group[idx], task.y[idx], list(task.group_classes), list(task.y_classes), n_boot)
    result.update(doc or {})
    result.update({"method": method, "landmarks": landmarks.source, "n_images": len(idx), "size": size,
                   "summary": "", "per_image": {"ids": [str(task.data.ids[i]) for i in idx],
                                                "shares": np.round(s, 5).tolist()}})
    result["summary"] = summary(result)
    mean_points = landmarks.in_input(size).mean(0)
    draw_region_shares(result, mean_points, size, out / "regions.png")
    result["png"] = "regions.png"
    write_json(out / RunFolder.REGIONS_DOC, result)
    log.info(result["summary"])
    return result


def regions_run(run: str | Path, n: int = 300, split: str = "test", method: str = "ig", seed: int = 0,
                out: str | Path | None = None, template_file: str | Path | None = None, n_boot: int = 1000,
                batch_size: int = 16, explain_class: str = "positive", **options: Any) -> dict[str, Any]:
    """``facefair regions RUN``: region shares per group of a run's model on ``n`` images of
    ``split`` (a seeded sample), written to ``RUN/regions`` (or ``out``).

    Parameters
    ----------
    run
        the run folder.
    n
        images (a seeded sample of the split; all of it where smaller).
    split
        the split the images come from.
    method
        ``ig`` (Integrated Gradients) or ``ablation`` (patch ablation).
    seed
        the sample's and the bootstrap's seed.
    out
        the output folder (default ``RUN/regions``, where ``facefair report`` finds it).
    template_file
        a landmark template (JSON) instead of the dataset's landmarks.
    n_boot
        bootstrap replicates.
    batch_size
        images per pass.
    explain_class
        whose logit: ``positive``, ``pred`` or ``true``.
    **options
        the explainer's options (IG: ``steps``).
    """
    from ..explain.run import make_explainer
    from ..inference import load_run

    if method not in ("ig", "ablation"):
        raise ConfigError(f"region shares take --method ig or ablation (attributions per pixel), got {method!r}")
    run = Path(run)
    cfg, task, run_method, model, device = load_run(run)
    idx = task.indices(split, n, seed)
    explainer = make_explainer(method, run_method, model.eval(), explain_class, options)
    return region_report(explainer, method, task, idx, cfg.size, Path(out) if out else RunFolder(run).regions_dir,
                         template_file, n_boot, batch_size,
                         {"run": str(run), "split": split, "target": cfg.target, "protected": cfg.protected,
                          "explained_class": explain_class, "options": options}, device)
