"""Pictures of attributions: a grid with one row per image, the image first, then each map
drawn over it (a jet colour map whose opacity grows with the map's value), as in FineFACE Figure 3 / ASAC Figure 3."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..report.charts import plain_text


@plain_text
def overlay_grid(images: torch.Tensor, columns: Sequence[tuple[str, torch.Tensor]], path: Path,
                 row_labels: Sequence[str] = (), title: str = "", alpha: float = 0.75) -> Path:
    """Save a PNG grid: ``images`` (B, 3, H, W) in [0, 1], and per column a title and (B, H, W) maps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("jet")
    b = images.shape[0]
    ncol = 1 + len(columns)
    fig, axes = plt.subplots(b, ncol, figsize=(1.6 * ncol, 1.6 * b + (0.4 if title else 0)), squeeze=False)
    pix = images.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    for i in range(b):
        axes[i, 0].imshow(pix[i])
        if i < len(row_labels):
            axes[i, 0].set_ylabel(row_labels[i], fontsize=7)
        for j, (name, maps) in enumerate(columns, start=1):
            axes[i, j].imshow(pix[i])
            m = np.asarray(maps[i].detach().float().clamp(0, 1).cpu())
            rgba = cmap(m)
            rgba[..., 3] = alpha * m  # weak evidence stays see-through, so the face shows
            axes[i, j].imshow(rgba)
        for j in range(ncol):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    axes[0, 0].set_title("input", fontsize=8)
    for j, (name, _) in enumerate(columns, start=1):
        axes[0, j].set_title(name, fontsize=7)
    if title:  # wrapped to the figure's width (about 11 characters per inch at this size)
        fig.suptitle("\n".join(textwrap.wrap(title, width=max(30, int(1.6 * ncol * 11)))), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
