"""The networks of facefair's own face generator: a DCGAN pair and an encoder that inverts it.

Radford, Metz and Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks" (ICLR 2016): transposed convolutions with BatchNorm and ReLU
up from a 4x4 map, a mirrored discriminator with LeakyReLU, no pooling. The encoder is the
discriminator's shape ending in a latent code instead of a score; g-SMOTE and deep generative
views need one to carry real images into the latent space. Sizes are 4 * 2^k (32, 64, 128).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from ..errors import ConfigError


def levels(size: int) -> int:
    """Upsamplings from 4x4 to ``size`` (a power of two, at least 16)."""
    k = math.log2(size / 4) if size >= 16 else -1
    if k != int(k) or k < 2:
        raise ConfigError(f"generator size must be 4 * 2^k and at least 16 (32, 64, 128), got {size}")
    return int(k)


class Generator(nn.Module):
    """z (N, latent_dim) -> images (N, 3, size, size) in [0, 1]."""

    def __init__(self, latent_dim: int = 128, size: int = 64, width: int = 64):
        super().__init__()
        self.latent_dim, self.size = latent_dim, size
        k = levels(size)
        ch = [width * 2 ** i for i in range(k - 1, -1, -1)]  # e.g. 512, 256, 128, 64 for 64 px
        self.project = nn.Sequential(nn.ConvTranspose2d(latent_dim, ch[0], 4, 1, 0, bias=False),
                                     nn.BatchNorm2d(ch[0]), nn.ReLU(True))
        ups: list[nn.Module] = []
        for a, b in itertools.pairwise(ch):
            ups += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        ups += [nn.ConvTranspose2d(ch[-1], 3, 4, 2, 1), nn.Tanh()]  # DCGAN's output, mapped to [0, 1] below
        self.up = nn.Sequential(*ups)
        init_dcgan(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.project(z.view(len(z), -1, 1, 1))) * 0.5 + 0.5


def _down(size: int, width: int) -> tuple[nn.Sequential, int]:
    """Strided convolutions from (3, size, size) to (C, 4, 4); returns the stack and C."""
    k = levels(size)
    ch = [width * 2 ** i for i in range(k)]  # 64, 128, 256, 512 for 64 px
    layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
    for a, b in itertools.pairwise(ch):
        layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
    return nn.Sequential(*layers), ch[-1]


class Discriminator(nn.Module):
    """images in [0, 1] -> one real/fake logit each."""

    def __init__(self, size: int = 64, width: int = 64):
        super().__init__()
        self.down, c = _down(size, width)
        self.score = nn.Conv2d(c, 1, 4, 1, 0)
        init_dcgan(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.down(x * 2 - 1)).flatten()


class Encoder(nn.Module):
    """images in [0, 1] -> latent codes (N, latent_dim): the generator's approximate inverse."""

    def __init__(self, latent_dim: int = 128, size: int = 64, width: int = 64):
        super().__init__()
        self.size = size  # what it reads: load_generator resizes images to it
        self.down, c = _down(size, width)
        self.code = nn.Conv2d(c, latent_dim, 4, 1, 0)
        init_dcgan(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.code(self.down(x * 2 - 1)).flatten(1)


def init_dcgan(module: nn.Module) -> None:
    """DCGAN's initialisation: convolutions N(0, 0.02), BatchNorm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
