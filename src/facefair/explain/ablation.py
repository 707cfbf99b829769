"""Feature ablation over square patches (Captum's ``FeatureAblation``): the change of the
explained class's logit when one patch is replaced by a baseline. It needs forward passes
only, so it explains models without gradients (an ONNX model run by onnxruntime).

The image is cut into a ``patches`` x ``patches`` grid; each patch is one feature (all three
channels together), so an image costs ``patches**2`` forward passes, evaluated
``per_eval`` perturbations at a time. The picture shows |attribution| per patch, scaled per
image by its 99th percentile as IG's is.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from ..methods.base import Method
from .base import Explainer
from .ig import BASELINES, attribution_map, baseline_fill


def patch_mask(size: int, patches: int) -> torch.Tensor:
    """(1, 1, size, size) feature ids: a ``patches`` x ``patches`` grid of near-equal squares."""
    edges = torch.div(torch.arange(size) * patches, size, rounding_mode="floor")
    return (edges[:, None] * patches + edges[None, :])[None, None]


class AblationExplainer(Explainer):
    name: ClassVar[str] = "ablation"
    summary: ClassVar[str] = "feature ablation over square patches (Captum; forward passes only)"

    def __init__(self, method: Method, model: nn.Module, explain_class: str = "positive",
                 patches: int = 8, baseline: str = "gray", per_eval: int = 16):
        super().__init__(method, model, explain_class)
        baseline_fill(baseline)
        if patches < 1 or per_eval < 1:
            raise ConfigError("patches and per_eval must be at least 1")
        self.patches, self.baseline, self.per_eval = patches, baseline, per_eval

    def attribute(self, x: torch.Tensor, target: torch.Tensor, group: torch.Tensor | None) -> torch.Tensor:
        """Raw attributions (B, 3, H, W): each pixel holds its patch's logit change."""
        from captum.attr import FeatureAblation

        mask = patch_mask(x.shape[-1], self.patches).to(x.device).expand(len(x), 3, -1, -1)
        fa = FeatureAblation(lambda inp, *extra: self.forward(inp, *extra).detach())
        extra = (group,) if group is not None else None
        base = BASELINES[self.baseline]
        with torch.no_grad():
            attr = fa.attribute(x, baselines=base, target=target, feature_mask=mask,
                                additional_forward_args=extra, perturbations_per_eval=self.per_eval)
        return attr.detach() / 3  # each patch's change sits on its 3 channels: count it once

    def maps(self, x: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return {"ablation": attribution_map(self.attribute(x, self.target(x, y, group), group))}
