"""The prepared cache gives exactly the tensors decoding on the fly gives, and refuses stale data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_celeba

from facefair.data import load_cache, load_dataset, prepare
from facefair.data.loader import SplitImages, iterate
from facefair.errors import DataError


@pytest.mark.parametrize("workers", [0, 2])
def test_cache_equals_on_the_fly(tmp_path: Path, workers: int) -> None:
    root = write_celeba(tmp_path / "c", n=15, as_zip=True)
    data = load_dataset("celeba", root)
    cache = prepare(data, 24, tmp_path / "cache", workers=workers, chunk=4, progress=False)
    task = data.task("Smiling", "Male")
    idx = task.indices("train")
    streamed = next(iterate(SplitImages(task, idx, 24), 64))["x"]
    cached_data = load_dataset("celeba", root)
    cached_data.attach_images(load_cache(cached_data, cache))
    cached = next(iterate(SplitImages(cached_data.task("Smiling", "Male"), idx, 24), 64))["x"]
    assert torch.equal(streamed, cached)


def test_stale_or_missing_cache_is_refused(tmp_path: Path) -> None:
    root = write_celeba(tmp_path / "c", n=12)
    data = load_dataset("celeba", root)
    cache = prepare(data, 16, tmp_path / "cache", progress=False)
    other = load_dataset("celeba", write_celeba(tmp_path / "d", n=12, absent=(3,)))
    with pytest.raises(DataError, match="another file list"):
        load_cache(other, cache)
    with pytest.raises(DataError, match="not a facefair cache"):
        load_cache(data, tmp_path / "nothing")


def test_size_mismatch_is_an_error(tmp_path: Path) -> None:
    from facefair.errors import ConfigError

    data = load_dataset("synthetic", n_train=30, n_val=10, n_test=10, size=32)
    task = data.task("smile", "group")
    with pytest.raises(ConfigError, match="32 px images"):
        SplitImages(task, task.indices("train"), 48)


def test_batch_order_is_seeded_per_epoch() -> None:
    from facefair.data.loader import batch_order

    a, b = batch_order(100, 32, True, 0, 1), batch_order(100, 32, True, 0, 1)
    assert a == b and batch_order(100, 32, True, 0, 2) != a
    assert sorted(np.concatenate(a).tolist()) == list(range(100))
    assert len(batch_order(100, 32, True, 0, 1, drop_last=True)) == 3
