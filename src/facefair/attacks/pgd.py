"""PGD (Madry et al. 2018): projected sign-gradient ascent in the L-inf ball, one run per eps.

Defaults: 10 steps of size 2.5 * eps / steps (Madry et al.'s rule, so the walk can cross the
ball), random start uniform in the ball, drawn from a seeded generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import Attack, LogitFn


class PGD(Attack):
    name = "pgd"

    def __init__(self, model: LogitFn, steps: int = 10, step_size: float | None = None,
                 random_start: bool = True, generator: torch.Generator | None = None):
        super().__init__(model)
        if steps < 1:
            raise ValueError("PGD needs at least one step")
        self.steps, self.step_size, self.random_start = steps, step_size, random_start
        self.generator = generator

    def step_for(self, eps: float) -> float:
        return self.step_size if self.step_size is not None else 2.5 * eps / self.steps

    def run(self, x: torch.Tensor, labels: torch.Tensor, eps: float,
            noise: torch.Tensor | None = None) -> torch.Tensor:
        """The PGD image at one eps; ``noise`` in [-1, 1] fixes the random start."""
        if eps == 0:
            return x
        x = x.detach()
        if self.random_start:
            if noise is None:
                noise = torch.rand(x.shape, generator=self.generator).to(x.device) * 2 - 1
            adv = (x + noise * eps).clamp(0.0, 1.0)
        else:
            adv = x.clone()
        alpha = self.step_for(eps)
        for _ in range(self.steps):
            g = self.input_grad(adv, labels)
            adv = adv + alpha * g.sign()
            adv = torch.min(torch.max(adv, x - eps), x + eps).clamp_(0.0, 1.0)
        return adv.detach()

    def perturb(self, x: torch.Tensor, labels: torch.Tensor, eps: Sequence[float]) -> list[torch.Tensor]:
        return [self.run(x, labels, e) for e in eps]
