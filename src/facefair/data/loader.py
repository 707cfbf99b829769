"""Batches of a task's split as tensors, deterministic given (seed, epoch).

A batch is fetched whole (``__getitem__`` takes a list of positions) so that a prepared cache
or in-memory images are sliced in one numpy call instead of collated image by image. Pixels
travel as uint8 NHWC (4x less than float) and become float NCHW in [0, 1] in
:func:`to_input`; per-channel normalisation is the model's first layer (SPEC).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError
from ..threads import usable_cores
from .base import Task


class SplitImages(Dataset):
    """The images, targets and groups of a subset of a task, served a batch at a time."""

    def __init__(self, task: Task, indices: np.ndarray, size: int):
        self.task, self.indices, self.size = task, np.asarray(indices), size
        data = task.data
        if data.images is not None and data.images.shape[1] != size:
            raise ConfigError(f"dataset {data.name} holds {data.images.shape[1]} px images "
                              f"(generated or prepared at that size) but {size} px were asked for")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, positions: list[int]) -> dict[str, torch.Tensor]:
        idx = self.indices[np.asarray(positions)]
        data = self.task.data
        if data.images is not None:
            order = np.argsort(idx)  # sorted reads are faster on a memory map
            pix = np.empty((len(idx), self.size, self.size, 3), np.uint8)
            pix[order] = data.images[idx[order]]
        else:
            assert data.store is not None
            pix = np.stack([data.store.load(str(data.ids[i]), self.size) for i in idx])
        return {
            "x": torch.from_numpy(pix),
            "y": torch.from_numpy(self.task.y[idx]),
            "group": torch.from_numpy(self.task.group[idx]),
            "index": torch.from_numpy(idx.astype(np.int64)),
        }


def batch_order(n: int, batch_size: int, shuffle: bool, seed: int, epoch: int,
                drop_last: bool = False, weights: np.ndarray | None = None) -> list[list[int]]:
    """The positions of each batch of one epoch; a pure function of its arguments (resume).

    ``weights`` (one per position) turns the shuffle into n draws with replacement with
    probability proportional to the weight: the sampling hook of resampling methods.
    """
    rng = np.random.default_rng([seed, epoch])
    if weights is not None:
        w = np.asarray(weights, np.float64)
        if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ConfigError(f"sampling weights must be {n} finite non-negative numbers, not all zero")
        order = rng.choice(n, size=n, replace=True, p=w / w.sum())
    else:
        order = rng.permutation(n) if shuffle else np.arange(n)
    batches = [order[i:i + batch_size].tolist() for i in range(0, n, batch_size)]
    if drop_last and len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def iterate(ds: SplitImages, batch_size: int, *, shuffle: bool = False, seed: int = 0,
            epoch: int = 0, workers: int | None = 0, drop_last: bool = False, skip: int = 0,
            weights: np.ndarray | None = None, shard: tuple[int, int] = (0, 1),
            device: torch.device | None = None) -> Iterator[dict[str, torch.Tensor]]:
    """Iterate one epoch of batches; ``skip`` drops the first batches (mid-epoch resume).

    ``shard`` (rank, world) keeps every world-th image of each batch from position rank: the
    same global batches on every rank of a distributed run, each rank loading its share.
    ``device`` is where the batches go: ``workers`` None means :func:`loader_workers`' choice
    for it, and for a CUDA device batches are pinned in page-locked memory so their copy to
    the GPU runs asynchronously; that takes effect only with workers, where a background thread
    pins the next batch while the current step runs (without workers it is one more copy in line).
    """
    device = torch.device("cpu") if device is None else device
    workers = loader_workers(workers, device)
    batches = batch_order(len(ds), batch_size, shuffle, seed, epoch, drop_last, weights)[skip:]
    rank, world = shard
    if world > 1:
        batches = [b[rank::world] for b in batches]
        batches = [b for b in batches if b]
    loader = DataLoader(ds, sampler=batches, batch_size=None, num_workers=workers,
                        persistent_workers=False, pin_memory=device.type == "cuda" and workers > 0)
    return iter(loader)


def n_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    full, rest = divmod(n, batch_size)
    return full + (1 if rest and not (drop_last and full) else 0)


def to_input(x: torch.Tensor, device: torch.device | str = "cpu",
             channels_last: bool = False) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [0, 1] on ``device``."""
    out = x.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
    return out.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def random_flip(x: torch.Tensor, generator: torch.Generator, shard: tuple[int, int] = (0, 1)) -> torch.Tensor:
    """Flip each NCHW image horizontally with probability 1/2 (seeded).

    With ``shard`` (rank, world) the draws are those of the whole global batch, sliced like
    the batch itself, so a distributed run flips the same images as one process. The draws
    are made on the CPU and the flip is a select on ``x``'s device: no boolean indexing, which
    would make a GPU run wait for its queued work.
    """
    rank, world = shard
    flip = (torch.rand(x.shape[0] * world, generator=generator) < 0.5)[rank::world]
    return torch.where(flip.to(x.device, non_blocking=True).view(-1, 1, 1, 1), x.flip(-1), x)


def loader_workers(requested: int | None, device: torch.device) -> int:
    """Data-loading processes: as asked, else none on a CPU (the model needs the cores) and
    with a GPU half the usable cores up to 6 (on a 16-core H200 machine 6 workers with pinned
    memory fed ResNet-18 at 0.68-0.81 of its random-batch speed, none at 0.46-0.58)."""
    if requested is not None:
        return requested
    if device.type != "cuda":
        return 0
    return min(6, usable_cores() // 2)


def ahead(items: Iterator[Any], convert: Callable[[Any], Any]) -> Iterator[Any]:
    """``convert(item)`` of each item, made one item ahead: a batch's copy to the GPU is queued
    before the step of the one before it waits on its result."""
    it = iter(items)
    try:
        nxt = convert(next(it))
    except StopIteration:
        return
    for item in it:
        cur, nxt = nxt, convert(item)
        yield cur
    yield nxt
