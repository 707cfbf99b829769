"""FineFACE's network: shallow-to-deep experts on one backbone (SPEC, FineFACE; CMAL-Net).

Expert n reads the output of backbone stage ``stages[n]`` (ResNet layer2/3/4 by default),
compresses it with its head F_n (conv1x1 -> BN -> act -> conv3x3 -> BN -> act, then global
max or average pooling) into a descriptor v_n of length C_v, and classifies v_n with its own
two-layer classifier. A further classifier reads the concatenation of all descriptors.
Pooling is adaptive, so any input size works. Inputs are [0, 1] pixels; normalisation is the
first layer, as in :class:`~facefair.models.classifier.FaceClassifier`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from .attention import attention_crop, class_activation_map, combine_maps, upsample_normalized
from .backbones import Backbone
from .classifier import Normalize

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU}
POOLINGS = {"max": nn.AdaptiveMaxPool2d, "avg": nn.AdaptiveAvgPool2d}


class ExpertHead(nn.Module):
    """F_n without the pooling: x''_n = act(BN(conv3x3(act(BN(conv1x1(x_n))))))."""

    def __init__(self, in_channels: int, width: int, activation: str = "elu"):
        super().__init__()
        act = ACTIVATIONS[activation]
        half = width // 2
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, half, 1, bias=False), nn.BatchNorm2d(half), act(),
            nn.Conv2d(half, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), act())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ExpertClassifier(nn.Module):
    """The published code's classifier: BN1d - Linear(C, hidden) - BN1d - ELU - Linear(hidden, K)."""

    def __init__(self, in_features: int, hidden: int, n_classes: int):
        super().__init__()
        self.bn_in = nn.BatchNorm1d(in_features)
        self.fc1 = nn.Linear(in_features, hidden)
        self.bn_hidden = nn.BatchNorm1d(hidden)
        self.act = nn.ELU()
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.bn_hidden(self.fc1(self.bn_in(v)))))

    def class_weights(self, classes: torch.Tensor) -> torch.Tensor:
        """Per-image effective weights W2[k] @ W1 of class k (BN and biases ignored, as the
        published code does), the CAM weights of a two-layer classifier: (B, in_features)."""
        return self.fc2.weight[classes].float() @ self.fc1.weight.float()


@dataclass
class ExpertOutputs:
    """What one forward pass of chosen experts gives: per-expert maps x''_n and logits."""

    maps: dict[int, torch.Tensor]  # expert index (0-based) -> x''_n (B, C_v, h, w)
    logits: dict[int, torch.Tensor]  # expert index -> p_n (B, K)
    concat: torch.Tensor | None  # p_concat, when every expert ran and it was asked for


class FineFACENet(nn.Module):
    """Backbone + N expert heads and classifiers + the concatenation classifier."""

    def __init__(self, backbone: Backbone, stages: tuple[int, ...] = (3, 4, 5), width: int = 1024,
                 hidden: int = 512, activation: str = "elu", pooling: str = "max", n_classes: int = 2,
                 threshold: float = 0.5, padding: float = 0.1):
        super().__init__()
        n_stages = len(backbone.stages)
        if not stages or list(stages) != sorted(set(stages)) or stages[0] < 1 or stages[-1] > n_stages:
            raise ConfigError(f"expert stages must be increasing stage numbers in 1..{n_stages}, got {stages}")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"head activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if width < 2 or width % 2:
            raise ConfigError(f"descriptor width C_v must be an even number >= 2, got {width}")
        if not 0.0 <= threshold <= 1.0 or not 0.0 <= padding <= 1.0:
            raise ConfigError(f"crop threshold and padding must lie in [0, 1], got {threshold}, {padding}")
        self.stages = tuple(int(s) for s in stages)
        self.threshold, self.padding = float(threshold), float(padding)
        self.normalize = Normalize(backbone.mean, backbone.std)
        self.backbone = backbone
        self.heads = nn.ModuleList(ExpertHead(backbone.out_channels[s - 1], width, activation) for s in self.stages)
        self.pool = POOLINGS[pooling](1)
        self.classifiers = nn.ModuleList(ExpertClassifier(width, hidden, n_classes) for _ in self.stages)
        self.concat_classifier = ExpertClassifier(width * len(self.stages), hidden, n_classes)

    @property
    def n_experts(self) -> int:
        return len(self.stages)

    def run_experts(self, x: torch.Tensor, experts: list[int] | None = None, concat: bool = False,
                    grad_experts: list[int] | None = None) -> ExpertOutputs:
        """Forward the backbone only as deep as the deepest expert asked for, then those experts.

        ``grad_experts``: the experts whose heads and classifiers build a graph; the others run
        under ``no_grad`` (their maps are needed for attention, not their gradients). Default:
        all asked experts. ``concat`` needs every expert.
        """
        experts = list(range(self.n_experts)) if experts is None else sorted(experts)
        grad_experts = experts if grad_experts is None else grad_experts
        if concat and experts != list(range(self.n_experts)):
            raise ValueError("the concatenation classifier needs every expert's descriptor")
        depth = self.stages[experts[-1]]
        h = self.normalize(x)
        stage_out: dict[int, torch.Tensor] = {}
        wanted = {self.stages[n] for n in experts}
        for s, stage in enumerate(self.backbone.stages[:depth], start=1):
            h = stage(h)
            if s in wanted:
                stage_out[s] = h
        maps, logits, descriptors = {}, {}, []
        for n in experts:
            with torch.set_grad_enabled(torch.is_grad_enabled() and n in grad_experts):
                fmap = self.heads[n](stage_out[self.stages[n]])
                v = self.pool(fmap).flatten(1)
                maps[n], logits[n] = fmap, self.classifiers[n](v)
                descriptors.append(v)
        p_concat = self.concat_classifier(torch.cat(descriptors, 1)) if concat else None
        return ExpertOutputs(maps, logits, p_concat)

    def expert_cams(self, out: ExpertOutputs, size: tuple[int, int]) -> dict[int, torch.Tensor]:
        """Normalised CAMs (B, H, W) of each expert in ``out`` for its own predicted class."""
        cams = {}
        with torch.no_grad():
            for n, fmap in out.maps.items():
                k = out.logits[n].argmax(1)
                raw = class_activation_map(fmap, self.classifiers[n].class_weights(k))
                cams[n] = upsample_normalized(raw, size)[0]
        return cams

    def overall_map(self, cams: dict[int, torch.Tensor]) -> torch.Tensor:
        """A_oval's map from every expert's normalised CAM."""
        return combine_maps([cams[n] for n in range(self.n_experts)])

    def attention_input(self, x: torch.Tensor, cams: dict[int, torch.Tensor]) -> torch.Tensor:
        """A_oval: the crop of ``x`` to the box of the overall map, resized to full size."""
        return attention_crop(x, self.overall_map(cams), self.threshold, self.padding)

    def all_logits(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The N + 1 logit vectors (experts, then concat) on the raw input and on its A_oval crop."""
        raw = self.run_experts(x, concat=True)
        crop = self.attention_input(x, self.expert_cams(raw, tuple(x.shape[-2:])))
        return self._logits(raw), self._logits(self.run_experts(crop, concat=True))

    def _logits(self, out: ExpertOutputs) -> list[torch.Tensor]:
        assert out.concat is not None
        return [out.logits[n] for n in range(self.n_experts)] + [out.concat]

    def predict(self, x: torch.Tensor, mode: str = "fused") -> torch.Tensor:
        """Target logits by an inference rule of the paper's ablation.

        fused: sum of the 2(N + 1) logits (raw input and A_oval; the paper's inference);
        raw: the N + 1 on the raw input; crop: the N + 1 on A_oval; concat: the concatenation
        classifier on the raw input; expertN (1-based): expert N alone on the raw input.
        """
        if mode == "raw":
            return _sum(self._logits(self.run_experts(x, concat=True)))
        if mode in ("fused", "crop"):
            first, second = self.all_logits(x)
            return _sum(first + second if mode == "fused" else second)
        if mode == "concat":
            out = self.run_experts(x, concat=True)
            assert out.concat is not None
            return out.concat.float()
        n = parse_expert_mode(mode, self.n_experts)
        return self.run_experts(x, experts=[n]).logits[n].float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fused inference: the sum of the 2(N + 1) logit vectors (SPEC)."""
        return self.predict(x, "fused")


def _sum(logits: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.float() for t in logits]).sum(0)


INFERENCE_MODES = ("fused", "raw", "crop", "concat", "expertN")


def parse_expert_mode(mode: str, n_experts: int) -> int:
    """'expert2' -> expert index 1 (0-based); anything else that is no mode is an error."""
    if mode.startswith("expert") and mode[6:].isdigit() and 1 <= int(mode[6:]) <= n_experts:
        return int(mode[6:]) - 1
    raise ConfigError(f"inference must be fused, raw, crop, concat or expert1..expert{n_experts}, got {mode!r}")
