"""FGSM (Goodfellow et al. 2015): x' = clip(x + eps * sign(grad_x CE(C(x), a)), 0, 1).

One input gradient serves every eps of the set (SPEC), so a set of l magnitudes costs one
forward and one backward pass of the attacked model, not l.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import Attack


class FGSM(Attack):
    name = "fgsm"

    def direction(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """sign of the input gradient: the only thing FGSM needs to keep per image."""
        return self.input_grad(x, labels).sign()

    @staticmethod
    def apply(x: torch.Tensor, direction: torch.Tensor, eps: float) -> torch.Tensor:
        """The FGSM image at one eps from a stored direction."""
        if eps == 0:
            return x
        return (x + eps * direction).clamp_(0.0, 1.0)

    def perturb(self, x: torch.Tensor, labels: torch.Tensor, eps: Sequence[float]) -> list[torch.Tensor]:
        d = self.direction(x, labels)
        return [self.apply(x, d, e) for e in eps]
