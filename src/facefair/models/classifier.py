"""The one model every method trains: normalisation, a shared backbone, two linear heads.

``head`` predicts the binary target y (two logits, so softmax(M(x))[y] is defined as in the
ASAC difficulty score); ``probe`` predicts the protected attribute a from the same features
(ASAC's classifier C, the multi-task baseline, or an audit probe). Inputs are float images in
[0, 1]; per-channel normalisation is the first layer, so attacks and attributions work in
pixel space (SPEC).
"""

from __future__ import annotations

import torch
from torch import nn

from .backbones import IMAGENET_MEAN, IMAGENET_STD, Backbone, build_backbone


class Normalize(nn.Module):
    """Per-channel (x - mean) / std, as a layer so the model takes [0, 1] pixels."""

    def __init__(self, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class FaceClassifier(nn.Module):
    """M = backbone theta + target head rho, with a protected probe phi on the same features."""

    def __init__(self, backbone: Backbone, n_classes: int = 2, n_groups: int = 2):
        super().__init__()
        self.normalize = Normalize(backbone.mean, backbone.std)  # what the backbone's weights expect
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(backbone.feature_dim, n_classes)
        self.probe = nn.Linear(backbone.feature_dim, n_groups)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features of [0, 1] images."""
        return self.pool(self.backbone(self.normalize(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Target logits."""
        return self.head(self.features(x))

    def protected_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the protected-attribute probe."""
        return self.probe(self.features(x))


def build_model(arch: str, n_groups: int = 2, n_classes: int = 2) -> FaceClassifier:
    """A :class:`FaceClassifier` on a fresh backbone.

    Parameters
    ----------
    arch
        tiny, resnet18/34/50, densenet121/169, efficientnet_lite0/1/2.
    n_groups
        protected groups (the size of the heads that read them, e.g. domain-independent's).
    n_classes
        target classes (2: the targets are binary).
    """
    return FaceClassifier(build_backbone(arch), n_classes=n_classes, n_groups=n_groups)
