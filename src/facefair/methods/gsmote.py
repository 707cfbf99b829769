"""g-SMOTE: balance the (group, class) cells with faces interpolated in a generator's latent space.

Zietlow, Lohaus, Balakrishnan, Kleindessner, Locatello, Schölkopf and Russell, "Leveling Down
in Computer Vision: Pareto Inefficiencies in Fair Deep Classifiers" (CVPR 2022), as
../shared/SPEC.md pins it: encode the training images into the generator's latent space; for
each (group, class) cell smaller than the largest, make new codes by SMOTE (Chawla et al.
2002): a code of the cell plus a uniform fraction of the way to one of its k nearest
neighbours in the same cell; decode them and add them until every cell is as large as the
largest.

Adaptive sampling (``adaptive = true``): at the start of each epoch the model's mean
cross-entropy on each cell of the validation split is measured, and each step's generated
draws are shared among the cells in proportion to it (a cell without generated faces, the
largest, lends its real training images). What facefair chose: the per-step draw count is
that of plain g-SMOTE, so the two variants cost the same; ``max_synthetic`` caps the pool
(each cell's share scaled down alike) where balancing would generate more than a CPU holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.loader import to_input
from ..errors import ConfigError
from ..generative import FaceGenerator
from ..generative.latent import smote
from .base import Batch, RunSetup, StepContext, register
from .synthetic import Pool, SyntheticAugmentation, SyntheticOptions, decode_all, encode_split

log = logging.getLogger(__name__)


@dataclass
class GSmoteOptions(SyntheticOptions):
    """g-SMOTE (Zietlow et al. 2022) over the generator's options.

    Attributes
    ----------
    k: nearest neighbours a new code may be interpolated towards (SMOTE's 5).
    adaptive: share each step's generated draws among cells by their validation loss.
    max_synthetic: the most generated faces (0: as many as balancing needs).
    """

    k: int = 5
    adaptive: bool = False
    max_synthetic: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 1 or self.max_synthetic < 0:
            raise ConfigError("g-SMOTE needs k >= 1 and max_synthetic >= 0")


def balance_counts(counts: dict[tuple[int, int], int], cap: int = 0) -> dict[tuple[int, int], int]:
    """New faces per cell that bring every cell to the largest one's size; with ``cap``, each
    cell's share scaled down alike so that the total stays within it."""
    top = max(counts.values())
    need = {c: top - n for c, n in counts.items()}
    total = sum(need.values())
    if cap and total > cap:
        need = {c: int(np.floor(v * cap / total)) for c, v in need.items()}
    return need


@register
class GSmote(SyntheticAugmentation):
    name = "gsmote"
    summary = "g-SMOTE (Zietlow et al. 2022): fill the small (group, class) cells with latent SMOTE faces; adaptive sampling"
    uses_protected = True
    Options = GSmoteOptions
    options: GSmoteOptions

    def __init__(self, options: Any = None):
        super().__init__(options)
        self.cell_weights: dict[str, float] = {}
        self.weights_epoch = -1
        self.run: RunSetup | None = None

    def make_pool(self, model: nn.Module, run: RunSetup, gen: FaceGenerator) -> Pool:
        o = self.options
        codes, y, g = encode_split(gen, run)
        cells = sorted({(int(a), int(b)) for a, b in zip(g.tolist(), y.tolist())})
        counts = {c: int(((g == c[0]) & (y == c[1])).sum()) for c in cells}
        need = balance_counts(counts, o.max_synthetic)
        rng = torch.Generator().manual_seed(run.cfg.seed + 19)
        new_codes, new_y, new_g = [], [], []
        for (gc, yc), n_new in need.items():
            members = codes[(g == gc) & (y == yc)]
            made, *_ = smote(members, n_new, o.k, rng)
            new_codes.append(made)
            new_y.append(torch.full((len(made),), yc, dtype=torch.long))
            new_g.append(torch.full((len(made),), gc, dtype=torch.long))
        z = torch.cat(new_codes) if new_codes else codes[:0]
        self.info = {"cells": {f"{gc},{yc}": [counts[(gc, yc)], need[(gc, yc)]] for gc, yc in cells}}
        log.info("gsmote: (group, class): real + generated = " + ", ".join(
            f"({c}): {v[0]} + {v[1]}" for c, v in self.info["cells"].items()))
        return Pool(decode_all(gen, z, run.cfg.size, run.device), torch.cat(new_y) if new_y else y[:0],
                    torch.cat(new_g) if new_g else g[:0])

    def use_pool(self, pool: Pool, run: RunSetup) -> None:
        super().use_pool(pool, run)
        self.run = run
        if self.options.adaptive:
            if run.val_ds is None:
                raise ConfigError("gsmote adaptive sampling reads the validation split; this caller lends none")
            # per (group, class) cell of the training split, "g,y" as the validation losses key it:
            # its generated faces (pool rows) and its real ones (training positions), found once
            ds = run.train_ds
            g, y = ds.task.group[ds.indices], ds.task.y[ds.indices]
            self.cells = {f"{a},{b}": (torch.nonzero((pool.group == a) & (pool.y == b)).flatten(),
                                       torch.from_numpy(np.flatnonzero((g == a) & (y == b))))
                          for a, b in sorted({(int(a), int(b)) for a, b in zip(g, y)})}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "cell_weights": self.cell_weights, "weights_epoch": self.weights_epoch}

    def load_state_dict(self, state: dict[str, Any], model: nn.Module, run: RunSetup) -> None:
        super().load_state_dict(state, model, run)
        self.cell_weights = dict(state.get("cell_weights", {}))
        self.weights_epoch = int(state.get("weights_epoch", -1))

    @torch.no_grad()
    def validation_losses(self, model: nn.Module) -> dict[str, float]:
        """Mean cross-entropy of each (group, class) cell of the validation split."""
        assert self.run is not None and self.run.val_ds is not None
        was_training = model.training
        model.eval()
        sums: dict[str, list[float]] = {}
        for b in self.run.split_batches(self.run.val_ds):
            losses = F.cross_entropy(model(to_input(b["x"], self.run.device)).float(), b["y"].to(self.run.device), reduction="none").cpu()
            for gc, yc, v in zip(b["group"].tolist(), b["y"].tolist(), losses.tolist()):
                s = sums.setdefault(f"{gc},{yc}", [0.0, 0])
                s[0] += v
                s[1] += 1
        model.train(was_training)
        return {c: s[0] / s[1] for c, s in sums.items()}

    def draw(self, ctx: StepContext, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not self.options.adaptive or not self.per_batch:
            return super().draw(ctx, device)
        assert self.pool is not None and self.run is not None
        keys = sorted(k for k in self.cell_weights if k in self.cells)
        w = torch.tensor([self.cell_weights[k] for k in keys], dtype=torch.double)
        counts = torch.bincount(torch.multinomial(w / w.sum(), self.per_batch, replacement=True, generator=ctx.generator),
                                minlength=len(keys))
        xs, ys, gs = [], [], []
        for key, m in zip(keys, counts.tolist()):
            if not m:
                continue
            in_pool, real = self.cells[key]
            if len(in_pool):
                x, y, g = self.pool.take(in_pool[torch.randint(len(in_pool), (m,), generator=ctx.generator)], device)
            else:  # the largest cell has no generated faces: its real ones
                b = self.run.train_ds[real[torch.randint(len(real), (m,), generator=ctx.generator)].tolist()]
                x, y, g = to_input(b["x"], device), b["y"].to(device), b["group"].to(device)
            xs.append(x)
            ys.append(y)
            gs.append(g)
        return torch.cat(xs), torch.cat(ys), torch.cat(gs)

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        if self.options.adaptive and self.weights_epoch != ctx.epoch:
            self.cell_weights, self.weights_epoch = self.validation_losses(model), ctx.epoch
            log.info(f"gsmote adaptive sampling, epoch {ctx.epoch + 1}: validation loss per (group,class) cell "
                     + ", ".join(f"({k}) {v:.3f}" for k, v in sorted(self.cell_weights.items())))
        return super().train_step(model, batch, ctx)
