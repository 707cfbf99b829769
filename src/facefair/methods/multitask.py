"""Multi-task learning of the target and the protected attribute on one backbone.

Das, Dantcheva & Bremond, "Mitigating Bias in Gender, Age and Ethnicity Classification: a
Multi-Task Convolution Neural Network Approach" (ECCV Workshops 2018), the MTL row of
FineFACE Table 5. The shared features feed the target head and a protected-attribute head
(the classifier's ``probe``), trained jointly on CE(target) + weight * CE(protected): the
backbone is made to represent the group explicitly so that the target head need not pick it
up through correlated shortcuts. Only the target head is used at evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, Method, MethodOptions, StepContext, register


@dataclass
class MultiTaskOptions(MethodOptions):
    """Multi-task learning of target and protected attribute.

    Attributes
    ----------
    weight: the weight of the protected attribute's loss.
    """

    weight: float = 1.0  # weight of the protected attribute's loss

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ConfigError(f"--weight must be >= 0, got {self.weight}")


@register
class MultiTask(Method):
    name = "multitask"
    summary = "multi-task learning (Das et al. 2018): target and protected heads on one backbone"
    uses_protected = True
    Options = MultiTaskOptions
    options: MultiTaskOptions

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        with ctx.autocast():
            feats = model.features(batch.x)
            target = F.cross_entropy(model.head(feats).float(), batch.y)
            protected = F.cross_entropy(model.probe(feats).float(), batch.group)
        ctx.step(target + self.options.weight * protected)
        return {"loss": float(target.detach()), "protected_loss": float(protected.detach())}
