"""Fair Mixup: a smooth path between groups along which the mean prediction must stay flat.

Chuang & Mroueh, "Fair Mixup: Fairness via Interpolation" (ICLR 2021). For demographic
parity, images x0 of group 0 and x1 of group 1 are mixed, x_t = t x0 + (1 - t) x1 with
t ~ Beta(a, a), and the penalty is |E[d/dt f(x_t)]| = |E[grad f(x_t) . (x0 - x1)]|: the
derivative of the mean score along the path whose integral over t is the parity gap. For
equalized odds the pairs are drawn within each true class and the per-class penalties are
summed. f is the predicted probability of the positive class (classes 1..K-1 summed for
K > 2), as in the authors' CelebA code; the loss is CE + weight * penalty, and the penalty
needs a double backward (create_graph), so a step costs about 3 ERM steps.

Pairs come from the current batch: ``pairs`` draws per condition are taken with
replacement from each group's members (seeded by the trainer's method generator). With more
than two groups, group 0 is paired with each other group in turn. A condition whose batch
lacks a group adds nothing that step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, Method, MethodOptions, StepContext, register


@dataclass
class FairMixupOptions(MethodOptions):
    """Fair Mixup (Chuang and Mroueh 2021).

    Attributes
    ----------
    penalty: ``dp`` (mixes groups over all images) or ``eo`` (within each class).
    weight: the penalty's weight.
    beta: the mixing weight t ~ Beta(beta, beta); 1 = uniform, the authors' setting.
    pairs: mixed pairs per condition and step.
    """

    penalty: str = "eo"  # dp | eo
    weight: float = 1.0
    beta: float = 1.0  # t ~ Beta(beta, beta); 1 = uniform, the authors' setting
    pairs: int = 32  # mixed pairs per condition and step

    def __post_init__(self) -> None:
        if self.penalty not in ("dp", "eo"):
            raise ConfigError(f"--penalty must be dp or eo, got {self.penalty!r}")
        if self.weight < 0 or self.beta <= 0 or self.pairs < 1:
            raise ConfigError("fair_mixup needs weight >= 0, beta > 0 and pairs >= 1")


def mixup_pairs(y: torch.Tensor, group: torch.Tensor, penalty: str, pairs: int,
                generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(indices into group 0, indices into group g) of the pairs to mix, per condition."""
    conditions = [torch.ones_like(y, dtype=torch.bool)] if penalty == "dp" else \
        [y == k for k in torch.unique(y).tolist()]
    out = []
    for cond in conditions:
        members = [torch.nonzero(cond & (group == g)).flatten().cpu() for g in torch.unique(group).tolist()]
        if len(members) < 2 or any(len(m) == 0 for m in members):
            continue
        for other in members[1:]:
            i0 = members[0][torch.randint(len(members[0]), (pairs,), generator=generator)]
            i1 = other[torch.randint(len(other), (pairs,), generator=generator)]
            out.append((i0, i1))
    return out


def positive_score(logits: torch.Tensor) -> torch.Tensor:
    """Predicted probability of the positive class (classes 1..K-1), at least fp32."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return logits.softmax(1)[:, 1:].sum(1)


@register
class FairMixup(Method):
    name = "fair_mixup"
    summary = "Fair Mixup (Chuang & Mroueh 2021): mix across groups, keep the mean score flat along the path"
    uses_protected = True
    sync_bn = False  # the mixed forward runs only where the rank's shard holds both groups
    Options = FairMixupOptions
    options: FairMixupOptions

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        o = self.options
        with ctx.autocast():
            ce = F.cross_entropy(model(batch.x).float(), batch.y)
        penalty = torch.zeros((), device=batch.x.device)
        pairs = mixup_pairs(batch.y, batch.group, o.penalty, o.pairs, ctx.generator)
        if pairs and o.weight > 0:
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=ctx.generator))
            t = float(np.random.default_rng(seed).beta(o.beta, o.beta))  # seeded, resumable
            i0 = torch.cat([p[0] for p in pairs]).to(batch.x.device)
            i1 = torch.cat([p[1] for p in pairs]).to(batch.x.device)
            x0, x1 = batch.x[i0], batch.x[i1]
            xt = (t * x0 + (1 - t) * x1).requires_grad_(True)
            with ctx.autocast():
                score = positive_score(model(xt))
            (gx,) = torch.autograd.grad(score.sum(), xt, create_graph=True)
            along = (gx.float() * (x0 - x1)).flatten(1).sum(1)  # d f(x_t) / dt per pair
            penalty = along.view(len(pairs), o.pairs).mean(1).abs().sum()
        loss = ce + o.weight * penalty
        ctx.step(loss)
        return {"loss": float(ce.detach()), "mixup_penalty": float(penalty.detach())}
