"""Backbones as a sequence of stages, so methods can read intermediate features.

ResNet: stage 1 = stem (conv1, bn1, relu, maxpool), stages 2-5 = layer1..layer4.
DenseNet: stage 1 = stem, 2 = dense block 1 + transition 1, 3 = dense block 2, 4 = transition
2 + dense block 3, 5 = transition 3 + dense block 4 + final norm/ReLU, so stages 3, 4, 5 end
after dense blocks 2, 3, 4 (FineFACE's experts, SPEC). ``tiny`` is a five-stage CNN small
enough for tests to train in seconds. All start from random weights; local weights load with
:func:`load_backbone_weights`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError, DataError, unknown_name


class Backbone(nn.Module):
    """Stages applied in order; ``out_channels[i]`` is the width after stage i + 1."""

    def __init__(self, stages: list[nn.Module], out_channels: list[int], arch: str):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.out_channels = out_channels
        self.arch = arch

    @property
    def feature_dim(self) -> int:
        return self.out_channels[-1]

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every stage (stage 1 first)."""
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map."""
        for stage in self.stages:
            x = stage(x)
        return x


def _resnet(name: str) -> Backbone:
    from torchvision import models

    m = getattr(models, name)(weights=None)
    stem = nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool)
    layers = [m.layer1, m.layer2, m.layer3, m.layer4]
    widths = [64] + [layer[-1].conv3.out_channels if hasattr(layer[-1], "conv3")
                     else layer[-1].conv2.out_channels for layer in layers]
    return Backbone([stem, *layers], widths, name)


def _densenet(name: str) -> Backbone:
    from torchvision import models

    f = getattr(models, name)(weights=None).features
    stages = [
        nn.Sequential(f.conv0, f.norm0, f.relu0, f.pool0),
        nn.Sequential(f.denseblock1, f.transition1),
        nn.Sequential(f.denseblock2),
        nn.Sequential(f.transition2, f.denseblock3),
        nn.Sequential(f.transition3, f.denseblock4, f.norm5, nn.ReLU(inplace=False)),
    ]
    # dense blocks end in a concatenation, so read their widths off a dry run
    widths = []
    with torch.no_grad():
        x = torch.zeros(1, 3, 64, 64)
        for s in stages:
            s.eval()
            x = s(x)
            widths.append(int(x.shape[1]))
            s.train()
    return Backbone(stages, widths, name)


def _tiny() -> Backbone:
    def block(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    widths = [16, 24, 32, 48, 64]
    stages, cin = [], 3
    for w in widths:
        stages.append(block(cin, w))
        cin = w
    return Backbone(stages, widths, "tiny")


ARCHS: dict[str, Callable[[], Backbone]] = {
    "tiny": _tiny,
    "resnet18": lambda: _resnet("resnet18"),
    "resnet34": lambda: _resnet("resnet34"),
    "resnet50": lambda: _resnet("resnet50"),
    "densenet121": lambda: _densenet("densenet121"),
    "densenet169": lambda: _densenet("densenet169"),
}


def build_backbone(arch: str) -> Backbone:
    """A randomly initialised backbone by name (see ``ARCHS``)."""
    if arch not in ARCHS:
        raise unknown_name("architecture", arch, ARCHS)
    return ARCHS[arch]()


def _torchvision_key_map(backbone: Backbone) -> dict[str, str]:
    """torchvision state-dict key -> this backbone's key, for loading published weights."""
    if backbone.arch.startswith("resnet"):
        prefixes = {"conv1": "stages.0.0", "bn1": "stages.0.1", "layer1": "stages.1",
                    "layer2": "stages.2", "layer3": "stages.3", "layer4": "stages.4"}
    elif backbone.arch.startswith("densenet"):
        prefixes = {"features.conv0": "stages.0.0", "features.norm0": "stages.0.1",
                    "features.denseblock1": "stages.1.0", "features.transition1": "stages.1.1",
                    "features.denseblock2": "stages.2.0", "features.transition2": "stages.3.0",
                    "features.denseblock3": "stages.3.1", "features.transition3": "stages.4.0",
                    "features.denseblock4": "stages.4.1", "features.norm5": "stages.4.2"}
    else:
        return {}
    own = backbone.state_dict().keys()
    out = {}
    for key in own:
        for src, dst in prefixes.items():
            if key.startswith(dst + "."):
                out[src + key[len(dst):]] = key
    return out


def load_backbone_weights(backbone: Backbone, path: str | Path) -> list[str]:
    """Load local weights (facefair backbone keys or torchvision's) with ``weights_only``.

    Returns the ignored keys (a classifier such as ``fc.*``); any backbone key missing from
    the file is an error, so a wrong file never leaves a half-initialised model.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("weights file not found", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise DataError(f"not a loadable state_dict: {e}", path) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DataError("expected a state_dict (a mapping of tensor names)", path)
    own = backbone.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    tv = _torchvision_key_map(backbone)
    for k, v in state.items():
        k2 = k.removeprefix("backbone.")
        k2 = tv.get(k2.replace("module.", ""), k2)
        if k2 in own:
            if own[k2].shape != v.shape:
                raise DataError(f"weight '{k}' has shape {tuple(v.shape)}, the {backbone.arch} "
                                f"backbone expects {tuple(own[k2].shape)}", path)
            mapped[k2] = v
        else:
            ignored.append(k)
    missing = [k for k in own if k not in mapped]
    if missing:
        raise ConfigError(f"{path}: {len(missing)} of {len(own)} {backbone.arch} backbone weights "
                          f"are missing from the file, e.g. '{missing[0]}'")
    backbone.load_state_dict(mapped)
    return ignored
