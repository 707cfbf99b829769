"""The explainer interface: one class per attribution method (as in Captum), each turning a
batch of images into named maps in [0, 1] at the input size, ready to draw over the image.

An explainer attributes what the *method* predicts (``Method.predict_logits``: FineFACE's
fused inference, domain-independent's sum rule, ...), not a bare forward pass, so a picture
explains the same decision the metrics count.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from ..methods.base import Method

#: which class's logit the maps explain: the attribute present (e.g. Smiling), the model's
#: own prediction, or the true label
CLASS_CHOICES = ("positive", "pred", "true")


class Explainer(ABC):
    """Maps of one attribution method for a trained (method, model) pair, model in eval mode."""

    name: ClassVar[str]
    summary: ClassVar[str]

    def __init__(self, method: Method, model: nn.Module, explain_class: str = "positive"):
        if explain_class not in CLASS_CHOICES:
            raise ConfigError(f"--class must be one of {', '.join(CLASS_CHOICES)}, got {explain_class!r}")
        self.method, self.model, self.explain_class = method, model, explain_class

    def forward(self, x: torch.Tensor, group: torch.Tensor | None = None) -> torch.Tensor:
        """The logits the method predicts with (float32, differentiable in ``x``)."""
        return self.method.predict_logits(self.model, x, group).float()

    def target(self, x: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None) -> torch.Tensor:
        """Per image, the class index whose logit is explained."""
        if self.explain_class == "positive":
            return torch.ones(len(x), dtype=torch.long, device=x.device)
        if self.explain_class == "true":
            return y.to(x.device)
        with torch.no_grad():
            return self.forward(x, group).argmax(1)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Named (B, H, W) maps in [0, 1] for images ``x`` (B, 3, H, W) in [0, 1]."""
        was = self.model.training
        self.model.eval()
        try:
            return self.maps(x, y, group)
        finally:
            self.model.train(was)

    @abstractmethod
    def maps(self, x: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The maps, model already in eval mode."""
