"""A fairness-regularised loss: cross-entropy plus a weighted, differentiable fairness gap.

The "Regularized" comparison row of FineFACE Table 7. On each minibatch the soft rate of
every group, the mean predicted probability of the positive class (classes 1..K-1 summed for
K > 2), stands in for the hard rate the metrics count, so the gap has a gradient:

- ``dp``: max - min over groups of E[p | g] (demographic parity);
- ``eo``: the sum over true classes y of max - min over groups of E[p | y, g]
  (equalized odds: the TPR gap plus the FPR gap);
- ``eopp``: that gap for y = 1 only (equal opportunity, the TPR gap).

loss = CE + weight * gap. A class or group missing from the minibatch adds nothing that step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, Method, MethodOptions, StepContext, register
from .fair_mixup import positive_score

CRITERIA = ("dp", "eo", "eopp")


@dataclass
class RegularizedOptions(MethodOptions):
    """A fairness penalty added to the loss.

    Attributes
    ----------
    criterion: the gap penalised: ``dp`` (selection rates), ``eo`` (TPR and FPR) or ``eopp`` (TPR).
    weight: the penalty's weight.
    """

    criterion: str = "eo"  # dp | eo | eopp
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ConfigError(f"--criterion must be one of {', '.join(CRITERIA)}, got {self.criterion!r}")
        if self.weight < 0:
            raise ConfigError(f"--weight must be >= 0, got {self.weight}")


def soft_gap(score: torch.Tensor, y: torch.Tensor, group: torch.Tensor, criterion: str) -> torch.Tensor:
    """The differentiable gap of ``score`` between groups under ``criterion``."""
    if criterion == "dp":
        conditions = [torch.ones_like(y, dtype=torch.bool)]
    elif criterion == "eo":
        conditions = [y == k for k in torch.unique(y).tolist()]
    else:
        conditions = [y == 1]
    gap = score.new_zeros(())
    for cond in conditions:
        rates = [score[cond & (group == g)].mean() for g in torch.unique(group[cond]).tolist()]
        if len(rates) > 1:
            r = torch.stack(rates)
            gap = gap + r.max() - r.min()
    return gap


@register
class Regularized(Method):
    name = "regularized"
    summary = "fairness-regularised loss: CE + weight * a differentiable DP / EO / EOpp gap (FineFACE Table 7)"
    uses_protected = True
    Options = RegularizedOptions
    options: RegularizedOptions

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        with ctx.autocast():
            logits = model(batch.x).float()
        ce = F.cross_entropy(logits, batch.y)
        gap = soft_gap(positive_score(logits), batch.y, batch.group, self.options.criterion)
        ctx.step(ce + self.options.weight * gap)
        return {"loss": float(ce.detach()), "gap": float(gap.detach())}
