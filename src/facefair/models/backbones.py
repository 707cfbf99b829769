"""Backbones as a sequence of stages, so methods can read intermediate features.

ResNet: stage 1 = stem (conv1, bn1, relu, maxpool), stages 2-5 = layer1..layer4.
DenseNet: stage 1 = stem, 2 = dense block 1 + transition 1, 3 = dense block 2, 4 = transition
2 + dense block 3, 5 = transition 3 + dense block 4 + final norm/ReLU, so stages 3, 4, 5 end
after dense blocks 2, 3, 4 (FineFACE's experts, SPEC). EfficientNet-Lite0/1/2: the block groups
ending at strides 2, 4, 8, 16, 32 (:mod:`.efficientnet_lite`). ``tiny`` is a five-stage CNN small
enough for tests to train in seconds. All start from random weights; local weights load with
:func:`load_backbone_weights`, published ones with :func:`facefair.models.pretrained.load_pretrained`.

A backbone also says which per-channel normalisation its published weights were trained with
(``mean``, ``std``): the model's first layer uses it, so [0, 1] pixels reach the weights as in
their training.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import read_state_dict
from ..errors import ConfigError, DataError, unknown_name
from .efficientnet_lite import VARIANTS as EFFICIENTNET_LITE
from .efficientnet_lite import efficientnet_lite_stages

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: TensorFlow's EfficientNet-Lite input: (x - 127) / 128 on 0-255 pixels (efficientnet_lite_builder.py)
LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3


class Backbone(nn.Module):
    """Stages applied in order; ``out_channels[i]`` is the width after stage i + 1.

    ``source_keys`` maps own state-dict keys to those of the published weights' files where the
    layouts differ; ``mean``/``std`` are the input normalisation those weights expect.
    """

    def __init__(self, stages: list[nn.Module], out_channels: list[int], arch: str,
                 mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD,
                 source_keys: dict[str, str] | None = None):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.out_channels = out_channels
        self.arch = arch
        self.mean, self.std = tuple(mean), tuple(std)
        self.source_keys = dict(source_keys or {})
        self.frozen = 0

    def freeze(self, n_stages: int) -> None:
        """Fix the first ``n_stages`` stages: no gradients (so methods' parameter groups leave
        them out), and their BatchNorm statistics stay those of the loaded weights (the stages
        stay in eval mode when the model trains)."""
        if not 0 <= n_stages <= len(self.stages):
            raise ConfigError(f"--freeze-stages must lie in 0..{len(self.stages)} for {self.arch}, got {n_stages}")
        self.frozen = n_stages
        for stage in self.stages[:n_stages]:
            stage.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode)
        for stage in self.stages[:self.frozen]:
            stage.train(False)
        return self

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


def _efficientnet_lite(name: str) -> Backbone:
    stages, widths, source = efficientnet_lite_stages(name)
    return Backbone(stages, widths, name, LITE_MEAN, LITE_STD, source)


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
    **{name: (lambda n=name: _efficientnet_lite(n)) for name in EFFICIENTNET_LITE},
}


def build_backbone(arch: str) -> Backbone:
    """A randomly initialised backbone by name (see ``ARCHS``)."""
    if arch not in ARCHS:
        raise unknown_name("architecture", arch, ARCHS)
    return ARCHS[arch]()


def _torchvision_key_map(backbone: Backbone) -> dict[str, str]:
    """Published state-dict key (torchvision's, or the file layout in ``source_keys``) -> this
    backbone's key, for loading published weights."""
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
        return {v: k for k, v in backbone.source_keys.items()}
    own = backbone.state_dict().keys()
    out = {}
    for key in own:
        for src, dst in prefixes.items():
            if key.startswith(dst + "."):
                out[src + key[len(dst):]] = key
    return out


#: torchvision's published DenseNet files keep the old layer names ('norm.1' for 'norm1'), which
#: torchvision renames when it loads them (densenet._load_state_dict); so does this
_OLD_DENSELAYER = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var))$")


def load_backbone_weights(backbone: Backbone, path: str | Path) -> list[str]:
    """Load local weights (facefair backbone keys or torchvision's) with ``weights_only``.

    Returns the ignored keys (a classifier such as ``fc.*``); any backbone key missing from
    the file is an error, so a wrong file never leaves a half-initialised model.
    """
    path = Path(path)
    state = read_state_dict(path)
    own = backbone.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    tv = _torchvision_key_map(backbone)
    for k, v in state.items():
        k2 = _OLD_DENSELAYER.sub(r"\1\2", k.removeprefix("backbone."))
        k2 = tv.get(k2.replace("module.", ""), k2)
        if k2 in own:
            if own[k2].shape != v.shape:
                raise DataError(f"weight '{k}' has shape {tuple(v.shape)}, the {backbone.arch} "
                                f"backbone expects {tuple(own[k2].shape)}", path)
            mapped[k2] = v
        else:
            ignored.append(k)
    # BatchNorm's step counter is not a weight, and files older than it (torchvision's DenseNets)
    # lack it: it keeps its own value, as torch's BatchNorm does when loading such a file
    missing = [k for k in own if k not in mapped and not k.endswith(".num_batches_tracked")]
    if missing:
        raise ConfigError(f"{path}: {len(missing)} of {len(own)} {backbone.arch} backbone weights "
                          f"are missing from the file, e.g. '{missing[0]}'")
    backbone.load_state_dict({**own, **mapped})
    return ignored
