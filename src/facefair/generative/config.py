"""What determines a generator run (``generator.json``), importable without torch: the CLI
reads its defaults to offer them as flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError


@dataclass
class GeneratorConfig:
    """What determines a generator run; saved as ``generator.json``."""

    dataset: str = "synthetic"
    root: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    size: int = 64
    latent_dim: int = 128
    width: int = 64  # channels of the first (last) convolution; DCGAN's 64
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    rec_weight: float = 1.0
    latent_weight: float = 1.0
    max_train: int | None = None
    split_seed: int = 0
    seed: int = 0
    quality_n: int = 1000  # images per side of the per-epoch FD-Lite0 (0: skip it)
    threads: int = 0
    cache: str = "auto"
    # how it runs, not what it trains (left out when a resume compares configs)
    progress: bool = True
    checkpoint_every: int = 0

    VOLATILE = ("progress", "checkpoint_every", "threads", "cache")

    def identity(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self.VOLATILE}

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0 or self.latent_dim < 1 or self.width < 1:
            raise ConfigError("generator training needs epochs >= 1, batch_size >= 2, lr > 0, latent_dim >= 1, width >= 1")
        if self.rec_weight < 0 or self.latent_weight < 0:
            raise ConfigError("rec_weight and latent_weight must be >= 0")
