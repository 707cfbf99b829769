"""Consistency regularisation: a face and its semantics-preserving augmentations must get the
same prediction.

Krishnan and Rattani, "A novel approach for bias mitigation of gender classification
algorithms using consistency regularization" (Image and Vision Computing 137, 2023; FineFACE
Table 5, method C). Augmentations that keep what the face shows (its identity, its attributes)
are applied at the image level, and a self-consistency term ties the model's predictions on the
original and the augmented views, so the classifier cannot lean on the appearance cues that the
augmentations vary.

What facefair took and chose (the paper's text is not in ../shared; SPEC says to follow it and
write down the choices): ``views`` augmented views of each batch face, each a random
resized crop (scale 0.8-1), a rotation of up to ``rotate`` degrees and a brightness, contrast
and saturation jitter of up to ``jitter``, drawn per image from the trainer's seeded method
generator; loss = CE(original) + ``weight`` * the Jensen-Shannon divergence among the
predicted distributions of the original and its views (AugMix's consistency term, Hendrycks
et al. 2020, which is zero exactly when all the predictions agree). No generator, and no
protected label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, Method, MethodOptions, StepContext, register


@dataclass
class ConsistencyOptions(MethodOptions):
    """Consistency regularisation (Krishnan and Rattani 2023).

    Attributes
    ----------
    weight: the consistency term's weight.
    views: augmented views of each face.
    rotate: the largest rotation, in degrees.
    jitter: the largest relative change of brightness, contrast and saturation.
    min_scale: the smallest side of the random crop, as a fraction of the image.
    """

    weight: float = 1.0
    views: int = 2
    rotate: float = 10.0
    jitter: float = 0.2
    min_scale: float = 0.8

    def __post_init__(self) -> None:
        if self.weight < 0 or self.views < 1 or self.rotate < 0 or not 0 <= self.jitter < 1 or not 0 < self.min_scale <= 1:
            raise ConfigError("consistency needs weight >= 0, views >= 1, rotate >= 0, 0 <= jitter < 1 and "
                              "0 < min_scale <= 1")


def augment(x: torch.Tensor, o: ConsistencyOptions, generator: torch.Generator) -> torch.Tensor:
    """One semantics-preserving view of each NCHW image in [0, 1]: crop-and-resize and rotation in
    one affine resampling, then colour jitter; every draw comes from ``generator``."""
    n = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    scale = u(o.min_scale, 1.0)
    angle = u(-o.rotate, o.rotate) * math.pi / 180
    tx, ty = u(-1, 1) * (1 - scale), u(-1, 1) * (1 - scale)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    b, c, s = (u(1 - o.jitter, 1 + o.jitter).to(x).view(n, 1, 1, 1) for _ in range(3))
    out = out * b
    mean = out.mean((1, 2, 3), keepdim=True)
    out = (out - mean) * c + mean
    grey = (out * torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)
    out = (out - grey) * s + grey
    return out.clamp(0, 1)


def js_divergence(logits: list[torch.Tensor]) -> torch.Tensor:
    """Jensen-Shannon divergence among the softmax distributions of several logit sets (mean
    over the batch): mean_i KL(p_i || m) with m the mixture; zero iff all p_i are equal."""
    probs = [F.softmax(z.float(), 1) for z in logits]
    mix = torch.stack(probs).mean(0).clamp_min(1e-7).log()
    return torch.stack([F.kl_div(mix, p, reduction="batchmean") for p in probs]).mean()


@register
class Consistency(Method):
    name = "consistency"
    summary = "consistency regularisation (Krishnan & Rattani 2023): agree across semantics-preserving augmentations"
    Options = ConsistencyOptions
    options: ConsistencyOptions

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        o = self.options
        views = [augment(batch.x, o, ctx.generator) for _ in range(o.views)]
        n = len(batch)
        with ctx.autocast():
            logits = model(torch.cat([batch.x, *views])).float()
        parts = list(logits.split(n))
        ce = F.cross_entropy(parts[0], batch.y)
        js = js_divergence(parts) if o.weight > 0 else torch.zeros((), device=logits.device)
        loss = ce + o.weight * js
        ctx.step(loss)
        return {"loss": float(ce.detach()), "consistency": float(js.detach())}
