"""Empirical risk minimisation: the base model both papers start from.

Cross-entropy on the target only; the protected labels are never read. ASAC's base model M
(SPEC: Adam 1e-3, grad-norm clip 1.0) and FineFACE's baseline are this method.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .base import Batch, Method, StepContext, register


@register
class ERM(Method):
    name = "erm"
    summary = "empirical risk minimisation (cross-entropy on the target; the base model)"

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        with ctx.autocast():
            loss = F.cross_entropy(model(batch.x).float(), batch.y)
        ctx.step(loss)
        return {"loss": float(loss.detach())}
