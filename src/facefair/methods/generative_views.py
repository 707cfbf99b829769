"""Deep generative views: each training face together with generated variations of itself,
learned with an evidential loss.

Ramachandran and Rattani, "Deep Generative Views to Mitigate Gender Classification Bias
Across Gender-Race Groups" (ICPR 2022 workshops; FineFACE Table 5, method D). The paper joins
three things: generative views (a real face is inverted into a GAN's latent space and its
code perturbed, giving natural variations of that face: Chai et al., "Ensembling with Deep
Generative Views", CVPR 2021), structured learning over an image and its views, and
evidential deep learning (Sensoy, Kaplan and Kandemir, NeurIPS 2018).

What facefair took and chose (the paper's text is not in ../shared; SPEC says to follow it
and write down the choices): ``views`` variations per training face, G(E(x) + sigma * eps)
with eps ~ N(0, I) scaled by the codes' per-dimension standard deviation, made once before
the first step (stored by training position in ``synthetic.pt``); each step trains on the
batch and every batch face's views together (the structure: a face and its views share a
label and a step); the loss is Sensoy et al.'s evidential loss with evidence = softplus
(logits), alpha = evidence + 1, the expected cross-entropy sum_k y_k (digamma(S) -
digamma(alpha_k)) plus the KL of the misleading evidence to Dir(1), weighted min(1, epoch /
10). Predictions stay the argmax of the logits (alpha is monotone in them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..generative import FaceGenerator
from .base import Batch, RunSetup, StepContext, register
from .synthetic import Pool, SyntheticAugmentation, SyntheticOptions, decode_all, encode_split

log = logging.getLogger(__name__)


@dataclass
class GenerativeViewsOptions(SyntheticOptions):
    """Deep generative views (Ramachandran and Rattani 2022) over the generator's options.

    Attributes
    ----------
    views: generated variations of each training face.
    sigma: the latent perturbation, in units of the codes' per-dimension standard deviation.
    evidential: the evidential loss (Sensoy et al. 2018); false: cross-entropy.
    anneal_epochs: epochs over which the KL term's weight rises to 1.
    """

    views: int = 2
    sigma: float = 0.3
    evidential: bool = True
    anneal_epochs: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.views < 1 or self.sigma < 0 or self.anneal_epochs < 1:
            raise ConfigError("generative_views needs views >= 1, sigma >= 0 and anneal_epochs >= 1")


def evidential_loss(logits: torch.Tensor, y: torch.Tensor, kl_weight: float) -> torch.Tensor:
    """Sensoy et al. (2018), Eq. 4 with the KL regulariser: mean over the batch."""
    alpha = F.softplus(logits.float()) + 1
    s = alpha.sum(1, keepdim=True)
    onehot = F.one_hot(y, alpha.shape[1]).float()
    fit = (onehot * (torch.digamma(s) - torch.digamma(alpha))).sum(1)
    return (fit + kl_weight * kl_to_uniform(onehot + (1 - onehot) * alpha)).mean()


def kl_to_uniform(alpha: torch.Tensor) -> torch.Tensor:
    """KL(Dir(alpha) || Dir(1, ..., 1)) per row."""
    k = alpha.shape[1]
    s = alpha.sum(1)
    return (torch.lgamma(s) - torch.lgamma(torch.tensor(float(k))) - torch.lgamma(alpha).sum(1)
            + ((alpha - 1) * (torch.digamma(alpha) - torch.digamma(s).unsqueeze(1))).sum(1))


@register
class GenerativeViews(SyntheticAugmentation):
    name = "generative_views"
    summary = ("deep generative views (Ramachandran & Rattani 2022): each face with latent variations of itself, "
               "evidential loss")
    Options = GenerativeViewsOptions
    options: GenerativeViewsOptions

    def __init__(self, options: Any = None):
        super().__init__(options)
        self.position: dict[int, int] = {}

    def make_pool(self, model: nn.Module, run: RunSetup, gen: FaceGenerator) -> Pool:
        o = self.options
        codes, y, g = encode_split(gen, run)
        scale = codes.std(0, keepdim=True) if len(codes) > 1 else torch.ones_like(codes[:1])
        rng = torch.Generator().manual_seed(run.cfg.seed + 23)
        # view v of training position p is row p * views + v
        z = codes.repeat_interleave(o.views, 0)
        z = z + o.sigma * scale * torch.randn(z.shape, generator=rng)
        self.info = {"views": o.views, "sigma": o.sigma, "train_images": len(codes)}
        return Pool(decode_all(gen, z, run.cfg.size, run.device), y.repeat_interleave(o.views),
                    g.repeat_interleave(o.views))

    def use_pool(self, pool: Pool, run: RunSetup) -> None:
        self.pool, self.per_batch = pool, 0
        self.position = {int(i): p for p, i in enumerate(np.asarray(run.train_ds.indices).tolist())}
        if len(pool) != len(self.position) * self.options.views:
            raise ConfigError(f"{run.out}: synthetic.pt holds {len(pool)} views, not {self.options.views} for each "
                              f"of {len(self.position)} training images (another run's file?)")
        log.info(f"generative_views: {self.options.views} generated views of each of {len(self.position)} training faces")

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        assert self.pool is not None
        o = self.options
        pos = torch.tensor([self.position[int(i)] for i in batch.index.tolist()])
        rows = (pos.unsqueeze(1) * o.views + torch.arange(o.views)).flatten()
        vx, vy, _ = self.pool.take(rows, batch.x.device)
        x, y = torch.cat([batch.x, vx]), torch.cat([batch.y, vy])
        with ctx.autocast():
            logits = model(x).float()
        if o.evidential:
            loss = evidential_loss(logits, y, min(1.0, ctx.epoch / o.anneal_epochs))
        else:
            loss = F.cross_entropy(logits, y)
        ctx.step(loss)
        return {"loss": float(loss.detach())}
