"""The dataset and task a training config names, with its prepared pixel cache attached."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from ..config import TrainConfig
from .base import FaceData, Task
from .cache import cache_is_current, default_cache_dir, load_cache
from .registry import load_dataset

log = logging.getLogger(__name__)


class DataSettings(Protocol):
    """What a config says about its data (a TrainConfig, a generator's GeneratorConfig)."""

    dataset: str
    root: str | None
    dataset_options: dict[str, Any]
    size: int
    split_seed: int
    cache: str | None


def reader_options(dataset: str, options: dict[str, Any] | None, size: int,
                   split_seed: int | None = None) -> dict[str, Any]:
    """A dataset reader's options for images of ``size`` px: the synthetic faces are drawn at
    that size (as ``train --size`` does, so does ``audit --input-size``); FairFace, UTKFace and
    manifests carve their validation split with ``split_seed``."""
    opts = dict(options or {})
    if dataset == "synthetic":
        opts.setdefault("size", size)
    if split_seed is not None and dataset in ("fairface", "utkface", "manifest"):
        opts.setdefault("split_seed", split_seed)
    return opts


def load_data(cfg: DataSettings) -> FaceData:
    """The dataset a config names at its image size, with the prepared cache attached when
    there is one."""
    opts = reader_options(cfg.dataset, cfg.dataset_options, cfg.size, cfg.split_seed)
    data = load_dataset(cfg.dataset, cfg.root, **opts)
    for note in data.notes:
        log.info(f"note: {note}")
    if data.images is None and cfg.cache:
        attach_cache(data, cfg.size, cfg.cache)
    return data


def load_task(cfg: TrainConfig) -> Task:
    """Dataset + task of a config, with the prepared cache attached when there is one."""
    return load_data(cfg).task(cfg.target, cfg.protected)


def attach_cache(data: FaceData, size: int, cache: str) -> None:
    """Use the prepared pixel cache: the named folder, or with 'auto' the default one if made."""
    folder = default_cache_dir(data, size) if cache == "auto" else Path(cache)
    if cache == "auto" and (folder / "meta.json").is_file() and not cache_is_current(folder):
        log.info(f"note: the prepared cache {folder} was made by an older facefair; decoding the images "
                 f"instead (run 'facefair prepare' again to use a cache)")
        return
    if cache != "auto" or (folder / "meta.json").is_file():
        data.attach_images(load_cache(data, folder))
        log.info(f"using prepared cache {folder}")
