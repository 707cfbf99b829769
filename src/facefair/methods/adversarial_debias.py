"""Adversarial debiasing with the gradient-projection update.

Zhang, Lemoine & Mitchell, "Mitigating Unwanted Biases with Adversarial Learning" (AIES
2018). An adversary A predicts the protected group from the predictor's output; for
equalized odds (``criterion=eo``) it also sees the true label, so it can only win on what the
output says about the group *beyond* the label. Per minibatch (their section 3):

- the adversary's weights U take a plain step on its loss L_A;
- the predictor's weights W take a step along
  ``grad_W L_P - proj_{grad_W L_A} grad_W L_P - alpha * grad_W L_A``:
  the projection removes the part of the task gradient that would help the adversary, the
  last term actively hurts it.

The adversary is the paper's: s = sigmoid((1 + |c|) * u) of the output's log-odds u with a
learnt c, then a linear layer on s (DP) or on [s, s * onehot(y)] (EO). It lives in the model
as ``model.adversary`` so the one optimizer, checkpoints and ``--resume`` carry it; only the
target head is used at evaluation. The projection is over the whole predictor weight vector,
as the paper writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, Method, MethodOptions, StepContext, register

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..data import Task


@dataclass
class AdversarialDebiasOptions(MethodOptions):
    """Adversarial debiasing (Zhang et al. 2018).

    Attributes
    ----------
    criterion: ``eo`` (the adversary also sees the label: equalized odds) or ``dp`` (demographic parity).
    alpha: weight of the adversary-hurting term.
    projection: the paper's projection of the adversary's gradient; off: plain gradient reversal,
        grad L_P - alpha grad L_A.
    """

    criterion: str = "eo"  # eo (adversary sees the label) | dp
    alpha: float = 1.0  # weight of the adversary-hurting term
    projection: bool = True  # off: plain gradient reversal, grad L_P - alpha grad L_A

    def __post_init__(self) -> None:
        if self.criterion not in ("eo", "dp"):
            raise ConfigError(f"--criterion must be eo or dp, got {self.criterion!r}")
        if self.alpha < 0:
            raise ConfigError(f"--alpha must be >= 0, got {self.alpha}")


def log_odds(logits: torch.Tensor) -> torch.Tensor:
    """(N, K-1) log-odds of classes 1..K-1 against class 0; for K = 2 the single logit."""
    lp = logits.float().log_softmax(1)
    return lp[:, 1:] - lp[:, :1]


class Adversary(nn.Module):
    """Predicts the group from the output (and, for EO, the label); the paper's form."""

    def __init__(self, n_classes: int, n_groups: int, criterion: str):
        super().__init__()
        self.n_classes, self.criterion = n_classes, criterion
        d = n_classes - 1
        self.c = nn.Parameter(torch.ones(()))
        self.linear = nn.Linear(d * (1 + n_classes) if criterion == "eo" else d, n_groups)

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid((1 + self.c.abs()) * log_odds(logits))
        if self.criterion == "eo":
            onehot = F.one_hot(y, self.n_classes).to(s.dtype)
            s = torch.cat([s, (s[:, :, None] * onehot[:, None, :]).flatten(1)], 1)
        return self.linear(s)


def debiased_gradient(g_task: list[torch.Tensor], g_adv: list[torch.Tensor], alpha: float,
                      projection: bool = True) -> list[torch.Tensor]:
    """``g_task - proj_{g_adv} g_task - alpha * g_adv`` over the concatenated vectors."""
    dot = sum((a * b).sum() for a, b in zip(g_task, g_adv, strict=True))
    norm2 = sum((b * b).sum() for b in g_adv)
    scale = dot / norm2 if projection and float(norm2) > 0 else torch.zeros(())
    return [a - scale * b - alpha * b for a, b in zip(g_task, g_adv, strict=True)]


@register
class AdversarialDebias(Method):
    name = "adversarial_debias"
    summary = ("adversarial debiasing (Zhang, Lemoine & Mitchell 2018): an adversary reads the "
               "output; the predictor's step is projected away from helping it")
    uses_protected = True
    Options = AdversarialDebiasOptions
    options: AdversarialDebiasOptions
    fresh_on_init = ("adversary.",)  # mitigate: the base run has no adversary

    def build_model(self, cfg: TrainConfig, task: Task) -> nn.Module:
        model = super().build_model(cfg, task)
        model.add_module("adversary", Adversary(len(task.y_classes), task.n_groups, self.options.criterion))
        return model

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        adv_params = list(model.adversary.parameters())
        adv_ids = {id(p) for p in adv_params}
        pred = [(n, p) for n, p in model.named_parameters() if p.requires_grad and id(p) not in adv_ids]
        pred_params = [p for _, p in pred]
        with ctx.autocast():
            logits = model(batch.x).float()
        task_loss = F.cross_entropy(logits, batch.y)
        adv_loss = F.cross_entropy(model.adversary(logits, batch.y), batch.group)
        g_task = torch.autograd.grad(task_loss, pred_params, retain_graph=True, allow_unused=True)
        g_all = torch.autograd.grad(adv_loss, pred_params + adv_params, allow_unused=True)
        zeros = [torch.zeros_like(p) for p in pred_params]
        g_task = [g if g is not None else z for g, z in zip(g_task, zeros, strict=True)]
        g_adv = [g if g is not None else z for g, z in zip(g_all[:len(pred_params)], zeros, strict=True)]
        g_pred = debiased_gradient(g_task, g_adv, self.options.alpha, self.options.projection)
        g_u = [g if g is not None else torch.zeros_like(p) for g, p in zip(g_all[len(pred_params):], adv_params, strict=True)]
        # a surrogate whose gradient is exactly (g_pred, g_u): the trainer's one step applies it
        surrogate = sum((p * g.detach()).sum() for p, g in zip(pred_params + adv_params, g_pred + g_u, strict=True))
        ctx.step(surrogate)
        return {"loss": float(task_loss.detach()), "adversary_loss": float(adv_loss.detach())}
