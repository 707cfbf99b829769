"""ASAC: attribute-specific adversarial counterfactuals with curriculum fine-tuning.

Paper: "Utilizing Adversarial Examples for Bias Mitigation and Accuracy Enhancement"
(../shared/papers/asac-paper.md, sections 3.1-3.3, Algorithm 1), as ../shared/SPEC.md pins it:

1. C, a classifier of the protected attribute a, is fixed when fine-tuning starts (a linear
   probe on a frozen copy of M's backbone by default, or an independently trained model).
2. Per minibatch of k images, ASACs x' = clip(x + delta, 0, 1) fool C about a at each eps of
   the set (eps = 0 is the clean image). FGSM serves every eps from one input gradient.
3. Difficulty DS(x') = 1 - softmax(M(x'))[y], with M in eval mode before the update.
4. The k * l pairs (x, x') are ordered by DS (ascending = easy first, the paper's default;
   descending; random; none = generation order, i.e. eps by eps) and consumed as l
   micro-batches of k, one optimizer step each, with loss alpha CE(M(x), y) +
   (1 - alpha) CE(M(x'), y).

Memory: FGSM keeps only sign(grad) per image and builds each micro-batch's x' on the fly;
PGD keeps its k * l images while they fit ``cache_mb`` and otherwise regenerates the ones a
micro-batch needs (same seeded random start), so memory stays bounded for any k and l.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, StepContext, register
from .protected_attack import AttackOptions, ProtectedAttackMethod

ORDERS = ("ascending", "descending", "random", "none")


@dataclass
class ASACOptions(AttackOptions):
    """ASAC's options over the attack's (:class:`AttackOptions`).

    Attributes
    ----------
    eps: the attack strengths of the counterfactual set (0, the clean image, is always first).
    alpha: the loss's weight of the clean images: alpha CE(M(x), y) + (1 - alpha) CE(M(x'), y).
    order: the curriculum over difficulty scores: ``ascending`` (easy first, the paper's),
        ``descending``, ``random`` or ``none`` (generation order).
    cache_mb: memory for PGD's counterfactuals of a minibatch; beyond it they are regenerated.
    """

    eps: tuple[float, ...] = (0.0, 0.01, 0.001)
    alpha: float = 0.5
    order: str = "ascending"
    cache_mb: float = 512.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.order not in ORDERS:
            raise ConfigError(f"--order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"--alpha must lie in [0, 1], got {self.alpha}")
        # eps = 0 (the clean image) is always part of the set, first (SPEC)
        self.eps = (0.0, *[e for e in dict.fromkeys(self.eps) if e != 0.0])


def curriculum_order(ds: torch.Tensor, order: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pair ids p = j * k + i (eps j, image i) in curriculum order, from DS of shape (k, l)."""
    flat = ds.t().reshape(-1).float().cpu()  # generation order: eps by eps
    if order == "ascending":
        return torch.sort(flat, stable=True).indices
    if order == "descending":
        return torch.sort(flat, descending=True, stable=True).indices
    if order == "random":
        return torch.randperm(len(flat), generator=generator)
    if order == "none":
        return torch.arange(len(flat))
    raise ConfigError(f"unknown curriculum order {order!r}")


@torch.no_grad()
def difficulty(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """DS(x) = 1 - softmax(M(x))[y], M in eval mode (SPEC)."""
    was = model.training
    model.eval()
    p = model(x).float().softmax(1).gather(1, y[:, None])[:, 0]
    model.train(was)
    return 1.0 - p


class _ASACs:
    """The k * l counterfactuals of one minibatch, materialised a micro-batch at a time."""

    def __init__(self, method: ASAC, x: torch.Tensor, a: torch.Tensor, seed: int):
        self.m, self.x, self.a, self.seed = method, x, a, seed
        self.eps = torch.tensor(method.options.eps, device=x.device, dtype=x.dtype)
        self.cache: torch.Tensor | None = None  # (l, k, C, H, W) when it fits cache_mb
        if method.options.attack == "fgsm":
            self.direction = method.fgsm.direction(x, a)
        else:
            per_copy = x.numel() * x.element_size() / 2**20
            if per_copy * len(self.eps) <= method.options.cache_mb:
                every = torch.arange(len(x), device=x.device)
                self.cache = torch.stack([self._pgd(every, j) for j in range(len(self.eps))])

    def _pgd(self, idx: torch.Tensor, j: int) -> torch.Tensor:
        eps = float(self.eps[j])
        if eps == 0:
            return self.x[idx]
        # the random start of eps j is drawn for the whole minibatch, then indexed, so a
        # regenerated subset starts where it started the first time
        g = torch.Generator().manual_seed(self.seed * 1000 + j)
        noise = torch.rand(self.x.shape, generator=g)[idx.cpu()].to(self.x.device) * 2 - 1
        return self.m.pgd.run(self.x[idx], self.a[idx], eps, noise=noise)

    def full(self, j: int) -> torch.Tensor:
        """All k images at eps j."""
        return self.take(torch.arange(len(self.x), device=self.x.device),
                         torch.full((len(self.x),), j, device=self.x.device))

    def take(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """The ASACs of pairs (i, j)."""
        if self.m.options.attack == "fgsm":
            e = self.eps[j].view(-1, 1, 1, 1)
            return (self.x[i] + e * self.direction[i]).clamp_(0.0, 1.0)
        if self.cache is not None:
            return self.cache[j, i]
        out = torch.empty_like(self.x[i])
        for jj in torch.unique(j).tolist():
            sel = j == jj
            out[sel] = self._pgd(i[sel], jj)
        return out


@register
class ASAC(ProtectedAttackMethod):
    name = "asac"
    summary = "ASAC: fine-tune on adversarial counterfactuals of the protected attribute, curriculum by difficulty"
    Options = ASACOptions
    options: ASACOptions

    # -- one minibatch ----------------------------------------------------------------------
    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        o = self.options
        x, y, k = batch.x, batch.y, len(batch)
        self.attack_in(ctx)
        a = self.attack_labels(x, batch.group)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=ctx.generator))
        asacs = _ASACs(self, x, a, seed)
        with ctx.autocast():
            ds = torch.stack([difficulty(model, asacs.full(j), y) for j in range(len(o.eps))], 1)
        order = curriculum_order(ds, o.order, ctx.generator).to(x.device)
        model.train()
        total, n = 0.0, 0
        for chunk in order.split(k):
            i, j = chunk % k, chunk // k
            xp = asacs.take(i, j)
            with ctx.autocast():
                # separate forwards: BatchNorm sees clean and counterfactual batches apart, and
                # a term of weight 0 is not computed (alpha = 1 is plain clean fine-tuning)
                loss = torch.zeros((), device=x.device)
                if o.alpha > 0:
                    loss = loss + o.alpha * F.cross_entropy(model(x[i]).float(), y[i])
                if o.alpha < 1:
                    loss = loss + (1 - o.alpha) * F.cross_entropy(model(xp).float(), y[i])
            ctx.step(loss)
            total += float(loss.detach()) * len(i)
            n += len(i)
        return {"loss": total / n, "ds_mean": float(ds.mean())}
