"""Domain-independent training: one classifier head per protected group on a shared backbone.

Wang et al., "Towards Fairness in Visual Recognition: Effective Strategies for Bias
Mitigation" (CVPR 2020), section 4.3 (FineFACE Table 7, "Domain Indep."). The head outputs
K logits for each of the G groups; in training a sample's cross-entropy uses only the K logits
of its own group's head, so each group gets its own decision boundary. Inference rules (the
paper's): ``sum`` (default) scores class y by the sum over groups of the per-head
probabilities, needing no group label at test time; ``conditional`` uses the head of the
image's own group (the protected label must be known at test time); ``max`` takes each
class's best head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..models import build_model
from .base import Batch, Method, MethodOptions, StepContext, register

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..data import Task

RULES = ("sum", "conditional", "max")


@dataclass
class DomainIndependentOptions(MethodOptions):
    """Domain-independent training (Wang et al. 2020).

    Attributes
    ----------
    inference: how the per-group heads answer: ``sum`` of the groups' softmax scores (the
        paper's), ``conditional`` (the row's own group's head; needs the protected label) or ``max``.
    """

    inference: str = "sum"  # sum | conditional | max

    def __post_init__(self) -> None:
        if self.inference not in RULES:
            raise ConfigError(f"--inference must be one of {', '.join(RULES)}, got {self.inference!r}")


def per_group_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, G, K) logits: the shared backbone's K logits of every group's head."""
    out = model(x).float()
    return out.view(out.shape[0], model.probe.out_features, -1)  # the probe's width is G


@register
class DomainIndependent(Method):
    name = "domain_independent"
    summary = "domain-independent training (Wang et al. 2020): one head per protected group"
    uses_protected = True
    Options = DomainIndependentOptions
    options: DomainIndependentOptions

    def build_model(self, cfg: TrainConfig, task: Task) -> nn.Module:
        return build_model(cfg.arch, n_groups=task.n_groups, n_classes=len(task.y_classes) * task.n_groups)

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        with ctx.autocast():
            logits = per_group_logits(model, batch.x)
        own = logits[torch.arange(len(batch)), batch.group]  # each image's own group's head
        loss = F.cross_entropy(own, batch.y)
        ctx.step(loss)
        return {"loss": float(loss.detach())}

    def predict_logits(self, model: nn.Module, x: torch.Tensor, group: torch.Tensor | None = None) -> torch.Tensor:
        logits = per_group_logits(model, x)
        rule = self.options.inference
        if rule == "conditional":
            if group is None:
                raise ConfigError("domain-independent inference 'conditional' needs the protected labels")
            return logits[torch.arange(len(x)), group]
        prob = logits.softmax(2)
        score = prob.sum(1) if rule == "sum" else prob.amax(1)
        # returned as log-scores, so the trainer's softmax gives the normalised sum (or max)
        return score.clamp_min(1e-12).log()
