"""Reweighting: every (target class, protected group) cell carries the same total loss weight.

Wang et al., "Towards Fairness in Visual Recognition: Effective Strategies for Bias
Mitigation" (CVPR 2020), the weighting baseline (FineFACE Table 7, "Weighting"). A sample of
cell (y, g) gets weight n / (K * G * n(y, g)) computed once from the training split, so the
weighted loss is the mean over cells of each cell's mean loss: a cell that is rare in training
(smiling men in a sample where smiling correlates with women) counts as much as a common one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError
from .base import Batch, Method, StepContext, register

if TYPE_CHECKING:
    from .base import RunSetup

log = logging.getLogger(__name__)


def cell_weights(y: np.ndarray, group: np.ndarray, n_classes: int, n_groups: int) -> np.ndarray:
    """(K, G) weights n / (K G n(y, g)); an empty cell is an error (its weight is undefined)."""
    counts = np.zeros((n_classes, n_groups), np.int64)
    np.add.at(counts, (y, group), 1)
    if (counts == 0).any():
        k, g = np.argwhere(counts == 0)[0]
        raise DataError(f"reweighting needs every (class, group) cell in training; class {k} of "
                        f"group {g} has no image")
    return len(y) / (n_classes * n_groups * counts)


@register
class Reweight(Method):
    name = "reweight"
    summary = "reweighting (Wang et al. 2020): equal total loss weight per (class, group) cell"
    uses_protected = True

    def __init__(self, options: Any = None):
        super().__init__(options)
        self.weights: torch.Tensor | None = None

    def setup(self, model: nn.Module, run: RunSetup) -> None:
        idx = run.train_ds.indices
        w = cell_weights(run.task.y[idx], run.task.group[idx], len(run.task.y_classes), run.task.n_groups)
        self.weights = torch.tensor(w, dtype=torch.float32, device=run.device)
        log.info("reweighting: cell weights " + np.array2string(w, precision=3).replace("\n", ""))

    def state_dict(self) -> dict[str, Any]:
        assert self.weights is not None
        return {"weights": self.weights.cpu()}

    def load_state_dict(self, state: dict[str, Any], model: nn.Module, run: RunSetup) -> None:
        self.weights = state["weights"].to(run.device)

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        assert self.weights is not None
        w = self.weights[batch.y, batch.group]
        with ctx.autocast():
            per_sample = F.cross_entropy(model(batch.x).float(), batch.y, reduction="none")
        loss = (w * per_sample).sum() / w.sum()
        ctx.step(loss)
        return {"loss": float(per_sample.mean().detach()), "weighted_loss": float(loss.detach())}
