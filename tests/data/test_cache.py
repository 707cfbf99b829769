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


def test_a_full_disk_or_a_bad_image_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    import errno
    import os

    root = write_celeba(tmp_path / "celeba", n=12)
    data = load_dataset("celeba", root)

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:  # the disk cannot hold the cache: said before any pixel is written
        m.setattr(os, "posix_fallocate", full)
        with pytest.raises(DataError, match="cannot claim .* GiB for the cache"):
            prepare(data, 16, tmp_path / "cache", progress=False)
    assert not list((tmp_path / "cache").glob("*.tmp"))
    (root / "img_align_celeba" / "000003.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="000003.jpg"):
        prepare(data, 16, tmp_path / "cache", progress=False)
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_a_cache_from_an_older_decoder_is_not_used_silently(tmp_path: Path, caplog, monkeypatch) -> None:
    import json
    import logging

    root = write_celeba(tmp_path / "celeba", n=12)
    cache = prepare(load_dataset("celeba", root), 16, tmp_path / "cache", progress=False)
    meta = json.loads((cache / "meta.json").read_text())
    (cache / "meta.json").write_text(json.dumps({**meta, "version": 1}))
    with pytest.raises(DataError, match="cache version 1 != 2; prepare again"):  # named: refused
        load_cache(load_dataset("celeba", root), cache)
    caplog.set_level(logging.INFO, logger="facefair")
    import facefair.data.from_config as fc

    monkeypatch.setattr(fc, "default_cache_dir", lambda data, size: cache)  # 'auto' finds this stale one
    data = load_dataset("celeba", root)
    fc.attach_cache(data, 16, "auto")
    assert data.images is None and any("made by an older facefair" in m for m in caplog.messages)
