"""A face generator as the generative methods see it, and where one comes from.

The stated interface (what ``--generator`` / the methods' ``generator`` option accept):

- a folder written by ``facefair generator train`` (``generator.json`` and
  ``checkpoints/generator.pt``, a state_dict of the DCGAN generator and its encoder), or
- a TorchScript file (``torch.jit.save``) of a user's own generator: a module with an int
  attribute ``latent_dim``, a method ``decode(z)`` (or ``forward(z)``) from (N, latent_dim)
  codes to float (N, 3, H, W) images in [0, 1], and optionally ``encode(x)`` from such images
  to codes. Methods that must carry real images into the latent space (g-SMOTE, deep
  generative views) need ``encode``; latent-space debiasing samples z ~ N(0, I) and needs
  only ``decode``.

Images may have any size; the methods resize them to the run's.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import load_checkpoint
from ..errors import ConfigError, DataError
from ..models.pretrained import sha256
from ..runfolder import RunFolder
from .nets import Encoder, Generator

CONFIG = "generator.json"
WEIGHTS = "generator.pt"


@dataclass
class FaceGenerator:
    """A frozen decoder (and maybe encoder) with the latent prior z ~ N(0, I)."""

    decoder: nn.Module
    encoder: nn.Module | None
    latent_dim: int
    source: str  # what it was loaded from, and its checksum: recorded by the runs that use it

    def __post_init__(self) -> None:
        for m in (self.decoder, self.encoder):
            if m is not None:
                m.eval()
                for p in m.parameters():
                    p.requires_grad_(False)

    @property
    def has_encoder(self) -> bool:
        return self.encoder is not None

    def to(self, device: torch.device | str) -> FaceGenerator:
        self.decoder.to(device)
        if self.encoder is not None:
            self.encoder.to(device)
        return self

    def sample_latent(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        """n codes from the prior, drawn on the CPU from ``generator`` (reproducible anywhere)."""
        return torch.randn(n, self.latent_dim, generator=generator).to(device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, size: int | None = None, batch_size: int = 256) -> torch.Tensor:
        """Images in [0, 1] (N, 3, size, size) for codes z, in batches."""
        out = []
        for part in z.split(batch_size):
            fn = getattr(self.decoder, "decode", None) or self.decoder
            x = fn(part).float().clamp(0, 1)
            out.append(resize(x, size))
        return torch.cat(out) if out else torch.empty(0, 3, size or 0, size or 0)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Codes of images in [0, 1] (resized to what the encoder reads)."""
        if self.encoder is None:
            raise ConfigError(f"the generator {self.source} has no encoder; this method needs one "
                              "(train one with 'facefair generator train', or give a TorchScript "
                              "module with an encode(x) method)")
        fn = getattr(self.encoder, "encode", None) or self.encoder
        size = getattr(self.encoder, "size", None)
        return torch.cat([fn(resize(part, int(size) if size else None)).float() for part in x.split(batch_size)])


def resize(x: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None or x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def load_generator(path: str | Path, device: torch.device | str = "cpu") -> FaceGenerator:
    """A generator folder made by ``facefair generator train``, or a TorchScript file.

    Parameters
    ----------
    path
        the folder or file (the module docstring states the interface a file must have).
    device
        where its decoder and encoder run.
    """
    path = Path(path)
    if path.is_dir():
        return _load_folder(path).to(device)
    if not path.is_file():
        raise DataError("generator not found (a folder from 'facefair generator train' or a TorchScript file)", path)
    try:
        with warnings.catch_warnings():  # torch marks TorchScript deprecated; users' files still load
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input error
        raise DataError(f"not a TorchScript generator: {(str(e).splitlines() or [type(e).__name__])[0][:200]}",
                        path) from None
    latent = getattr(module, "latent_dim", None)
    if not isinstance(latent, int) or latent < 1:
        raise DataError("a TorchScript generator needs an int attribute latent_dim", path)
    encoder = module if hasattr(module, "encode") else None
    return FaceGenerator(module, encoder, latent, f"{path} (sha256 {sha256(path)[:12]})").to(device)


def read_config(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / CONFIG).read_text()))
    except FileNotFoundError:
        raise DataError(f"not a generator folder: no {CONFIG} (made by 'facefair generator train')", folder) from None
    except ValueError as e:
        raise DataError(f"unreadable: {e}", folder / CONFIG) from None


def weights_file(folder: Path) -> Path:
    """Where a generator folder keeps the trained generator and encoder (beside the run-folder
    layout's ``checkpoints/last.pt`` that resumes training)."""
    return RunFolder(folder).path / RunFolder.CHECKPOINTS / WEIGHTS


def build_nets(cfg: dict[str, Any]) -> tuple[Generator, Encoder]:
    """The untrained generator and encoder a generator config describes."""
    return (Generator(cfg["latent_dim"], cfg["size"], cfg["width"]),
            Encoder(cfg["latent_dim"], cfg["size"], cfg["width"]))


def _load_folder(folder: Path) -> FaceGenerator:
    cfg = read_config(folder)
    weights = weights_file(folder)
    state = load_checkpoint(weights, ("generator", "encoder"))
    gen, enc = build_nets(cfg)
    for net, key in ((gen, "generator"), (enc, "encoder")):
        try:
            net.load_state_dict(state[key])
        except RuntimeError as e:
            raise DataError(f"the {key} weights do not fit {CONFIG}: {str(e).splitlines()[0]}", weights) from None
    return FaceGenerator(gen, enc, int(cfg["latent_dim"]), f"{folder} (sha256 {sha256(weights)[:12]})")
