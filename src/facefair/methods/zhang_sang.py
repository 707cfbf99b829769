"""Adversarial-example augmentation in the manner of Zhang & Sang 2020.

"Towards Accuracy-Fairness Paradox: Adversarial Example-based Data Augmentation for Visual
Debiasing" (ACM MM 2020), the comparison row of ASAC Table 1 (SPEC): images perturbed to flip
a fixed protected-attribute classifier C are added to the training batch as extra samples
with their original target labels. Unlike ASAC there is no difficulty curriculum and no alpha
weighting: each minibatch of k images becomes k * (1 + |eps|) samples, every one weighted
equally, and one optimizer step is taken on their mean cross-entropy.

C and the attacks are ASAC's (:mod:`.protected_attack`); ``eps`` lists the non-zero
magnitudes (the clean image is always in the batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, StepContext, register
from .protected_attack import AttackOptions, ProtectedAttackMethod


@dataclass
class ZhangSangOptions(AttackOptions):
    """Zhang and Sang (2020): the attack's options (:class:`AttackOptions`); ``eps`` lists the
    non-zero magnitudes, the clean image is always in the batch, and there is no curriculum
    and no alpha weighting."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.eps = tuple(e for e in dict.fromkeys(self.eps) if e != 0.0)
        if not self.eps:
            raise ConfigError("--eps needs at least one non-zero magnitude (the clean image is "
                              "always in the batch)")


@register
class ZhangSang(ProtectedAttackMethod):
    name = "zhang_sang"
    summary = ("adversarial augmentation (Zhang & Sang 2020): images that flip the protected "
               "classifier C join the batch; no curriculum, no alpha")
    Options = ZhangSangOptions
    options: ZhangSangOptions

    def augment(self, x: torch.Tensor, a: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        """One adversarial copy of ``x`` per eps, each pushing C away from the true group ``a``."""
        o = self.options
        if o.attack == "fgsm":
            direction = self.fgsm.direction(x, a)  # one gradient serves every eps
            return [(x + e * direction).clamp_(0.0, 1.0) for e in o.eps]
        out = []
        for e in o.eps:
            noise = torch.rand(x.shape, generator=generator).to(x.device) * 2 - 1
            out.append(self.pgd.run(x, a, e, noise=noise))
        return out

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        self.attack_in(ctx)
        advs = self.augment(batch.x, self.attack_labels(batch.x, batch.group), ctx.generator)
        x = torch.cat([batch.x, *advs])
        y = batch.y.repeat(1 + len(advs))
        model.train()
        with ctx.autocast():
            per_sample = F.cross_entropy(model(x).float(), y, reduction="none")
        loss = per_sample.mean()
        ctx.step(loss)
        k = len(batch)
        return {"loss": float(loss.detach()), "clean_loss": float(per_sample[:k].mean().detach()),
                "adv_loss": float(per_sample[k:].mean().detach())}
