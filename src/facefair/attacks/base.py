"""A tiny attack base in the manner of torchattacks: perturb [0, 1] images to raise a loss.

ASAC needs every attack to serve a *set* of noise magnitudes at once (eps = 0 is the clean
image), so ``perturb`` takes the whole eps list and returns one image batch per eps. The
attacked model is used in eval mode and its parameters never receive gradients.

``autocast`` makes the attacked model compute in a training run's precision: under a bf16 run
an fp32 attack cost 2x the bf16 one and made an ASAC-PGD epoch 1.24x its pass count (0.75x in bf16).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

LogitFn = Callable[[torch.Tensor], torch.Tensor]
Precision = Callable[[], contextlib.AbstractContextManager[Any]]


class Attack(ABC):
    """Perturbations in the L-inf ball of radius eps around x, kept inside [0, 1]."""

    name: str = "attack"

    def __init__(self, model: LogitFn, autocast: Precision = contextlib.nullcontext):
        self.model = model
        self.autocast = autocast  # the precision the model computes in (fp32 unless set)

    def input_grad(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """d CE(model(x), labels) / dx in x's dtype, without touching parameter gradients."""
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            with self.autocast():
                logits = self.model(x)
            loss = F.cross_entropy(logits.float(), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x)
        return grad

    @abstractmethod
    def perturb(self, x: torch.Tensor, labels: torch.Tensor, eps: Sequence[float]) -> list[torch.Tensor]:
        """Adversarial versions of ``x`` for each eps (eps = 0 gives x itself)."""

    def __call__(self, x: torch.Tensor, labels: torch.Tensor, eps: Sequence[float]) -> list[torch.Tensor]:
        return self.perturb(x, labels, eps)
