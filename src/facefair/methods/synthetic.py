"""What the generative comparison methods share: a pool of generated faces made once, before
the first step, from a face generator (:mod:`facefair.generative`), and training on real
batches with draws from that pool.

The pool is written to the run folder (``synthetic.pt``, and a grid of its first 64 faces in
``synthetic.png`` to look at), so ``--resume`` reloads it instead of remaking it. Each step
adds ``round(B * pool / train)`` pool images drawn with replacement (seeded by the trainer's
method generator) to the real batch of B: over an epoch the model sees the real and the
generated images once each in expectation, as training on their union would.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import save_image

from ..atomic import atomic_open
from ..checkpoint import load_checkpoint, save_atomic
from ..data.loader import to_input
from ..errors import ConfigError
from ..generative import FaceGenerator, load_generator
from .base import Batch, Method, MethodOptions, RunSetup, StepContext

log = logging.getLogger(__name__)

POOL = "synthetic.pt"


@dataclass
class SyntheticOptions(MethodOptions):
    """The generator every generative method reads.

    Attributes
    ----------
    generator: a folder written by ``facefair generator train``, or a TorchScript file with
        ``latent_dim``, ``decode(z)`` and (where a method encodes real images) ``encode(x)``.
    per_batch: generated images added to each real batch; 0: in proportion to pool / train.
    """

    generator: str = ""
    per_batch: int = 0

    def __post_init__(self) -> None:
        if self.per_batch < 0:
            raise ConfigError("--per-batch must be >= 0")


@dataclass
class Pool:
    """Generated images (uint8 NHWC at the run's size) with their target labels and groups."""

    x: torch.Tensor
    y: torch.Tensor
    group: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return to_input(self.x[idx], device), self.y[idx].to(device), self.group[idx].to(device)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] NCHW float -> uint8 NHWC on the CPU (how the pool keeps images: 4x smaller)."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu()


class SyntheticAugmentation(Method):
    """Train on real batches plus generated images from a pool a subclass makes."""

    options: SyntheticOptions

    def __init__(self, options: MethodOptions | None = None):
        super().__init__(options)
        self.pool: Pool | None = None
        self.per_batch = 0
        self.info: dict[str, Any] = {}

    def generator(self, run: RunSetup) -> FaceGenerator:
        if not self.options.generator:
            raise ConfigError(f"{self.name} needs a face generator: --generator FOLDER (made by "
                              "'facefair generator train') or a TorchScript file")
        gen = load_generator(self.options.generator, run.device)
        log.info(f"generator: {gen.source}")
        return gen

    @abstractmethod
    def make_pool(self, model: nn.Module, run: RunSetup, gen: FaceGenerator) -> Pool:
        """The generated images this method trains on (made once, before the first step)."""

    def setup(self, model: nn.Module, run: RunSetup) -> None:
        pool = self.make_pool(model, run, self.generator(run))
        save_atomic({"x": pool.x, "y": pool.y, "group": pool.group, "info": self.info}, run.out / POOL)
        with atomic_open(run.out / "synthetic.png", "wb") as fh:
            save_image(to_input(pool.x[:64]), fh, nrow=8, padding=1, format="png")
        self.use_pool(pool, run)

    def use_pool(self, pool: Pool, run: RunSetup) -> None:
        self.pool = pool
        n_train = max(len(run.train_ds), 1) if run.train_ds is not None else 1
        self.per_batch = self.options.per_batch or round(run.cfg.batch_size * len(pool) / n_train)
        log.info(f"{self.name}: {len(pool)} generated images, {self.per_batch} added to each batch of "
                 f"{run.cfg.batch_size} real ones")

    def state_dict(self) -> dict[str, Any]:
        return {"pool": POOL, "info": self.info}

    def load_state_dict(self, state: dict[str, Any], model: nn.Module, run: RunSetup) -> None:
        ck = load_checkpoint(run.out / state["pool"], ("x", "y", "group"))
        self.info = dict(state.get("info", {}))
        self.use_pool(Pool(ck["x"], ck["y"], ck["group"]), run)

    def draw(self, ctx: StepContext, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``per_batch`` pool images drawn uniformly with replacement."""
        assert self.pool is not None
        if not self.per_batch or not len(self.pool):
            return self.pool.take(torch.zeros(0, dtype=torch.long), device)
        idx = torch.randint(len(self.pool), (self.per_batch,), generator=ctx.generator)
        return self.pool.take(idx, device)

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        sx, sy, _ = self.draw(ctx, batch.x.device)
        x = torch.cat([batch.x, sx])
        with ctx.autocast():
            loss = F.cross_entropy(model(x).float(), torch.cat([batch.y, sy]))
        ctx.step(loss)
        return {"loss": float(loss.detach())}


@torch.no_grad()
def labels_of(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """argmax of a frozen classifier over images in [0, 1], in batches, on the CPU."""
    model.eval()
    return torch.cat([model(part).argmax(1).cpu() for part in x.split(batch_size)])


@torch.no_grad()
def encode_split(gen: FaceGenerator, run: RunSetup) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Latent codes, targets and groups of every training image, in the split's order."""
    codes, ys, gs = [], [], []
    for b in run.split_batches(run.train_ds):
        codes.append(gen.encode(to_input(b["x"], run.device)).cpu())
        ys.append(b["y"])
        gs.append(b["group"])
    return torch.cat(codes), torch.cat(ys), torch.cat(gs)


def decode_all(gen: FaceGenerator, z: torch.Tensor, size: int, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """uint8 NHWC images of codes, at the run's size."""
    return torch.cat([to_uint8(gen.decode(part.to(device), size)) for part in z.split(batch_size)]) \
        if len(z) else torch.zeros(0, size, size, 3, dtype=torch.uint8)
