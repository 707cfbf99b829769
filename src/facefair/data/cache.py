"""``facefair prepare``: decode and resize a dataset once into a uint8 array on disk.

CPU epochs on JPEGs are bound by decoding; the cache is an ``images.npy`` of shape
(N, S, S, 3) read through a memory map, plus ``meta.json`` naming the dataset, size and a
hash of the image ids so a stale cache is refused instead of silently misaligned. Pixels come
from :func:`facefair.data.images.decode_image`, so the cache equals decoding on the fly.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..atomic import write_json
from ..errors import DataError
from ..progress import bar as progress_bar
from .base import FaceData
from .images import ImageStore

#: 2: the decoder applies camera orientation and scales 16-bit pixels (version 1 caches of such
#: images hold other pixels than decoding the files now gives)
CACHE_VERSION = 2


def ids_digest(ids: np.ndarray) -> str:
    """A short hash of the image names, in order."""
    h = hashlib.sha256()
    for i in ids:
        h.update(str(i).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def default_cache_dir(data: FaceData, size: int) -> Path:
    """Where ``prepare`` writes by default: $FACEFAIR_CACHE or ~/.cache/facefair."""
    base = Path(os.environ.get("FACEFAIR_CACHE", Path.home() / ".cache" / "facefair"))
    root_tag = hashlib.sha256(str(Path(data.root).resolve()).encode()).hexdigest()[:8]
    return base / f"{data.name.replace(':', '_')}-{root_tag}-{size}px"


def _decode_chunk(args: tuple[ImageStore, list[str], int]) -> np.ndarray:
    store, names, size = args
    return np.stack([store.load(n, size) for n in names])


def prepare(data: FaceData, size: int, out: str | Path | None = None, workers: int = 0,
            chunk: int = 512, progress: bool = True) -> Path:
    """Decode every image of ``data`` once at ``size`` into a pixel cache; returns its folder.

    Parameters
    ----------
    data
        a loaded dataset (:func:`load_dataset`).
    size
        image side in pixels (centre square crop, bilinear resize).
    out
        the cache folder (default ``$FACEFAIR_CACHE`` or ``~/.cache/facefair/<dataset>-<hash>-<size>px``).
    workers
        decoding processes (0: in this process).
    chunk
        images per decoding job.
    progress
        a progress bar (on a terminal).
    """
    if data.store is None:
        raise DataError(f"dataset {data.name} is generated in memory; it needs no cache")
    out = Path(out) if out is not None else default_cache_dir(data, size)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "images.npy.tmp"
    try:
        _fill(data, size, tmp, workers, chunk, progress)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed prepare leaves no full-size temporary file
        raise
    os.replace(tmp, out / "images.npy")
    meta = {"version": CACHE_VERSION, "dataset": data.name, "root": str(Path(data.root).resolve()),
            "size": size, "n": len(data), "ids_sha256": ids_digest(data.ids)}
    write_json(out / "meta.json", meta)
    return out


def _fill(data: FaceData, size: int, tmp: Path, workers: int, chunk: int, progress: bool) -> None:
    """Decode every image into the memory-mapped ``tmp``, its disk space claimed first: writing
    to a sparse map on a full disk kills the process with SIGBUS and no message."""
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(data), size, size, 3))
    nbytes = tmp.stat().st_size
    try:
        fd = os.open(tmp, os.O_RDWR)
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, nbytes)
        finally:
            os.close(fd)
    except OSError as e:
        del arr
        raise DataError(f"cannot claim {nbytes / 2**30:.2f} GiB for the cache ({e.strerror}); free disk space or "
                        "pass --out on a larger disk", tmp.parent) from None
    names = [str(i) for i in data.ids]
    jobs = [(data.store, names[s:s + chunk], size) for s in range(0, len(names), chunk)]
    bar = progress_bar(None, progress, total=len(names), desc=f"prepare {data.name} {size}px", unit="img")
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            for k, block in enumerate(ex.map(_decode_chunk, jobs)):
                arr[k * chunk:k * chunk + len(block)] = block
                bar.update(len(block))
    else:
        for k, job in enumerate(jobs):
            block = _decode_chunk(job)
            arr[k * chunk:k * chunk + len(block)] = block
            bar.update(len(block))
    bar.close()
    arr.flush()
    del arr


def cache_is_current(cache: Path) -> bool:
    """Whether a cache folder was written by this version's decoder."""
    try:
        return json.loads((cache / "meta.json").read_text()).get("version") == CACHE_VERSION
    except (OSError, ValueError, AttributeError):
        return False


def load_cache(data: FaceData, cache: str | Path) -> np.ndarray:
    """Memory-map a prepared cache after checking it belongs to ``data``."""
    cache = Path(cache)
    meta_path = cache / "meta.json"
    if not meta_path.is_file() or not (cache / "images.npy").is_file():
        raise DataError("not a facefair cache (no meta.json/images.npy); run 'facefair prepare'", cache)
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"corrupt cache metadata: {e}", meta_path) from None
    if meta.get("version") != CACHE_VERSION:
        raise DataError(f"cache version {meta.get('version')} != {CACHE_VERSION}; prepare again", meta_path)
    if meta.get("n") != len(data) or meta.get("ids_sha256") != ids_digest(data.ids):
        raise DataError(f"cache holds {meta.get('n')} images of another file list than dataset "
                        f"{data.name} at {data.root} ({len(data)} images); prepare again", meta_path)
    arr = np.load(cache / "images.npy", mmap_mode="r")
    if arr.shape != (len(data), meta["size"], meta["size"], 3):
        raise DataError(f"cache array has shape {arr.shape}, metadata says otherwise", cache / "images.npy")
    return arr
