"""The region shares as faces: one face-shaped map per group and class, each region painted
by its mean share of the attribution (and its percentage written on it), then the difference
from the reference group in a diverging colour map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..face_regions import REGIONS, region_map


def draw_region_shares(doc: dict[str, Any], points: np.ndarray, size: int, path: Path) -> Path:
    """``regions.png`` of a region document (:func:`facefair.analysis.regions.group_shares`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = max(1, 192 // size)
    big = region_map(points * scale, size * scale)
    classes = list(dict.fromkeys(c["class"] for c in doc["cells"]))
    groups = list(dict.fromkeys(c["group"] for c in doc["cells"]))
    ncols = len(groups) + (1 if len(groups) > 1 else 0)
    fig, axes = plt.subplots(max(1, len(classes)), ncols, figsize=(2.6 * ncols, 2.8 * max(1, len(classes))),
                             squeeze=False)
    vmax = max([v[0] for c in doc["cells"] for r, v in c["share"].items()] + [1e-6])
    dmax = max([abs(d["diff"]) for d in doc["differences"]] + [1e-6])
    # where each region's number goes: its centroid; cheeks on the left cheek (their centroid is
    # the nose's), the background in a corner
    centres = {r: np.argwhere(big == k).mean(0) for k, r in enumerate(REGIONS) if (big == k).any()}
    left = np.argwhere((big == REGIONS.index("cheeks")) & (np.arange(big.shape[1])[None, :] < 0.4 * big.shape[1]))
    if len(left):
        centres["cheeks"] = left.mean(0)
    centres["background"] = np.array([0.06, 0.08]) * big.shape
    for i, cls in enumerate(classes):
        cells = {c["group"]: c for c in doc["cells"] if c["class"] == cls}
        for j, g in enumerate(groups):
            ax = axes[i, j]
            ax.axis("off")
            if g not in cells:
                continue
            vals = np.array([cells[g]["share"][r][0] for r in REGIONS])
            ax.imshow(vals[big], cmap="viridis", vmin=0, vmax=vmax)
            for r, (yy, xx) in centres.items():
                ax.text(xx, yy, f"{100 * cells[g]['share'][r][0]:.0f}", ha="center", va="center", fontsize=7,
                        color="white")
            ax.set_title(f"{g}, {cls} (n={cells[g]['n']})", fontsize=8)
        if len(groups) > 1:
            ax = axes[i, -1]
            ax.axis("off")
            diffs = [d for d in doc["differences"] if d["class"] == cls]
            if diffs:
                other = diffs[0]["group"]
                vals = np.array([next((d["diff"] for d in diffs if d["region"] == r and d["group"] == other), 0.0)
                                 for r in REGIONS])
                ax.imshow(vals[big], cmap="RdBu_r", vmin=-dmax, vmax=dmax)
                for r, (yy, xx) in centres.items():
                    d = next(d for d in diffs if d["region"] == r and d["group"] == other)
                    ax.text(xx, yy, f"{100 * d['diff']:+.0f}" + ("*" if d["beyond_noise"] else ""), ha="center",
                            va="center", fontsize=7)
                ax.set_title(f"{other} - {diffs[0]['reference']} (* beyond noise)", fontsize=8)
    fig.suptitle(f"Share of |attribution| per face region (%), {doc.get('method', '')}; landmarks: "
                 f"{doc.get('landmarks', '')}", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path
