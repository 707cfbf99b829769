"""Integrated Gradients (Sundararajan et al. 2017) of the explained class's logit, through
Captum: the ASAC paper's Figure 3 (where the model looks before and after mitigation).

Attributions are per pixel and channel; the picture shows their absolute value summed over
channels, scaled per image by its 99th percentile (so one extreme pixel does not wash out
the rest) and clipped to [0, 1]. ``internal_batch_size`` bounds memory: Captum evaluates the
``steps`` interpolated images of a batch in chunks of that many, whatever the image size.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from ..methods.base import Method
from .base import Explainer

#: the baseline images, each a constant fill of the [0, 1] pixels
BASELINES = {"black": 0.0, "gray": 0.5, "white": 1.0}


def baseline_fill(name: str) -> float:
    """A baseline's pixel value, or a clear error naming the choices."""
    if name not in BASELINES:
        raise ConfigError(f"--baseline must be one of {', '.join(BASELINES)}, got {name!r}")
    return BASELINES[name]


def attribution_map(attr: torch.Tensor, quantile: float = 0.99) -> torch.Tensor:
    """(B, C, H, W) attributions -> (B, H, W) magnitudes in [0, 1] (per-image quantile scale)."""
    mag = attr.detach().float().abs().sum(1)
    scale = torch.quantile(mag.flatten(1), quantile, dim=1).clamp_min(1e-12)
    return (mag / scale[:, None, None]).clamp(0, 1)


class IntegratedGradientsExplainer(Explainer):
    name: ClassVar[str] = "ig"
    summary: ClassVar[str] = "Integrated Gradients of the explained class's logit (Captum)"

    def __init__(self, method: Method, model: nn.Module, explain_class: str = "positive",
                 steps: int = 32, baseline: str = "black", internal_batch_size: int = 64):
        super().__init__(method, model, explain_class)
        baseline_fill(baseline)
        if steps < 1 or internal_batch_size < 1:
            raise ConfigError("--steps and --internal-batch-size must be at least 1")
        self.steps, self.baseline, self.internal_batch_size = steps, baseline, internal_batch_size

    def attribute(self, x: torch.Tensor, target: torch.Tensor, group: torch.Tensor | None) -> torch.Tensor:
        """Raw attributions (B, 3, H, W); their sum is F(x) - F(baseline) up to the quadrature error."""
        from captum.attr import IntegratedGradients

        base = torch.full_like(x, BASELINES[self.baseline])
        ig = IntegratedGradients(self.forward)
        extra = (group,) if group is not None else None
        attr = ig.attribute(x, baselines=base, target=target, additional_forward_args=extra, n_steps=self.steps,
                            method="gausslegendre", internal_batch_size=self.internal_batch_size)
        return attr.detach()

    def maps(self, x: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None) -> dict[str, torch.Tensor]:
        with torch.enable_grad():
            attr = self.attribute(x, self.target(x, y, group), group)
        return {"IG": attribution_map(attr)}
