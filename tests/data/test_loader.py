"""The loader's pieces that a GPU run leans on, checked on the CPU: flips, workers, one-ahead."""

from __future__ import annotations

import torch

from facefair.data.loader import ahead, loader_workers, random_flip
from facefair.threads import usable_cores


def test_flip_flips_the_drawn_images_and_no_others() -> None:
    x = torch.arange(6 * 2 * 3 * 4, dtype=torch.float32).view(6, 2, 3, 4)
    draws = torch.rand(6, generator=torch.Generator().manual_seed(1)) < 0.5
    out = random_flip(x, torch.Generator().manual_seed(1))
    assert 0 < int(draws.sum()) < 6  # this seed flips some and keeps some
    for i in range(6):
        assert torch.equal(out[i], x[i].flip(-1) if draws[i] else x[i])
    assert torch.equal(x, torch.arange(x.numel(), dtype=torch.float32).view(x.shape))  # input untouched


def test_flip_keeps_the_memory_format() -> None:
    x = torch.rand(4, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    out = random_flip(x, torch.Generator().manual_seed(0))
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_ahead_converts_one_item_early_and_yields_all_in_order() -> None:
    made: list[int] = []

    def convert(i: int) -> int:
        made.append(i)
        return i * 10

    out = []
    for v in ahead(iter(range(4)), convert):
        out.append(v)
        assert len(made) == min(len(out) + 1, 4)  # the next item is already converted
    assert out == [0, 10, 20, 30]
    assert list(ahead(iter([]), convert)) == []


def test_loader_workers_follow_the_device() -> None:
    assert loader_workers(None, torch.device("cpu")) == 0
    assert loader_workers(None, torch.device("cuda")) == min(6, usable_cores() // 2)
    assert loader_workers(3, torch.device("cpu")) == 3


