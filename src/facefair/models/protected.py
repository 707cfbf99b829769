"""The protected-attribute classifier C that ASAC attacks (and audits can probe with).

SPEC default: C = a frozen copy of M's backbone (taken when fine-tuning starts) plus a linear
probe phi trained on the protected labels; C never changes while M is fine-tuned. The
alternative is an independently trained full classifier (a run whose target is the protected
attribute). Either way C is an ``nn.Module`` from [0, 1] images to protected-attribute logits,
frozen and in eval mode.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .classifier import FaceClassifier


class ProbeClassifier(nn.Module):
    """A frozen feature extractor followed by a linear probe."""

    def __init__(self, extractor: FaceClassifier, n_groups: int):
        super().__init__()
        self.extractor = extractor
        self.probe = nn.Linear(extractor.backbone.feature_dim, n_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probe(self.extractor.features(x))


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode and no gradients: C must not move while M is fine-tuned."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


@torch.no_grad()
def extract_features(model: FaceClassifier, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features and labels of every batch, with ``model`` in eval mode."""
    model.eval()
    feats, labels = [], []
    for x, a in batches:
        feats.append(model.features(x).float().cpu())
        labels.append(a.cpu())
    return torch.cat(feats), torch.cat(labels)


def fit_linear_probe(feats: torch.Tensor, labels: torch.Tensor, n_groups: int, epochs: int = 30,
                     lr: float = 1e-2, batch_size: int = 512, seed: int = 0) -> nn.Linear:
    """Logistic regression on fixed features (Adam on minibatches, seeded)."""
    gen = torch.Generator().manual_seed(seed)
    probe = nn.Linear(feats.shape[1], n_groups)
    with torch.no_grad():  # deterministic init from the seed, not the global RNG
        probe.weight.copy_(torch.randn(probe.weight.shape, generator=gen) * 0.01)
        probe.bias.zero_()
    mean, std = feats.mean(0), feats.std(0).clamp_min(1e-6)
    z = (feats - mean) / std
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    n = len(z)
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            loss = F.cross_entropy(probe(z[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    # fold the standardisation into the layer so it reads raw features
    with torch.no_grad():
        w = probe.weight / std
        probe.bias.sub_((w * mean).sum(1))
        probe.weight.copy_(w)
    return probe


def probe_on_frozen_copy(model: FaceClassifier, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                         n_groups: int, epochs: int = 30, seed: int = 0) -> ProbeClassifier:
    """C = frozen copy of ``model``'s backbone + a linear probe fitted on ``batches``."""
    extractor = freeze(copy.deepcopy(model))
    feats, labels = extract_features(extractor, batches)
    c = ProbeClassifier(extractor, n_groups)
    c.probe = fit_linear_probe(feats, labels, n_groups, epochs=epochs, seed=seed)
    return freeze(c)
