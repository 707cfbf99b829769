"""CelebA (Liu et al. 2015) in its official layout.

``img_align_celeba/`` or ``img_align_celeba.zip``, ``list_attr_celeba.txt`` (row count, the 40
attribute names, then ``000001.jpg -1 1 ...``) and ``list_eval_partition.txt`` (0/1/2 =
train/val/test). Label rows whose image is absent (a sample of CelebA) are counted, reported
and left out; anything malformed is an error naming file and line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import FaceData
from .images import open_store

ATTR_FILE = "list_attr_celeba.txt"
SPLIT_FILE = "list_eval_partition.txt"


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError("label file not found", path)
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"not a text file: {e}", path) from None


def parse_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Names, attribute names and a (N, A) int8 matrix of 0/1 from list_attr_celeba.txt."""
    lines = _read_lines(path)
    if len(lines) < 2:
        raise DataError("expected a row count on line 1 and attribute names on line 2", path)
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DataError(f"line 1 must be the row count, got {lines[0][:40]!r}", path, 1) from None
    attrs = lines[1].split()
    if not attrs:
        raise DataError("line 2 must list the attribute names", path, 2)
    names: list[str] = []
    rows: list[list[int]] = []
    seen: set[str] = set()
    for ln, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(attrs) + 1:
            raise DataError(f"expected an image name and {len(attrs)} values, found "
                            f"{len(parts)} fields", path, ln)
        try:
            vals = [int(v) for v in parts[1:]]
        except ValueError:
            bad = next(v for v in parts[1:] if not v.lstrip("-").isdigit())
            raise DataError(f"attribute values must be -1 or 1, got {bad!r}", path, ln) from None
        if any(v not in (-1, 1) for v in vals):
            bad = next(v for v in vals if v not in (-1, 1))
            raise DataError(f"attribute values must be -1 or 1, got {bad}", path, ln)
        if parts[0] in seen:
            raise DataError(f"duplicate image name {parts[0]!r}", path, ln)
        seen.add(parts[0])
        names.append(parts[0])
        rows.append(vals)
    if len(names) != count:
        raise DataError(f"line 1 announces {count} rows but the file has {len(names)} "
                        "(truncated or edited?)", path, 1)
    mat = (np.asarray(rows, dtype=np.int8).reshape(len(rows), len(attrs)) + 1) // 2
    return names, attrs, mat


def parse_partition(path: Path) -> dict[str, int]:
    """Image name -> split code from list_eval_partition.txt."""
    out: dict[str, int] = {}
    for ln, line in enumerate(_read_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DataError("expected '<image> <0|1|2>'", path, ln)
        if parts[0] in out:
            raise DataError(f"duplicate image name {parts[0]!r}", path, ln)
        out[parts[0]] = int(parts[1])
    return out


def load_celeba(root: str | Path) -> FaceData:
    """Read CelebA from ``root`` (extracted folder or the official zip)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError("CelebA root folder not found", root)
    names, attrs, mat = parse_attributes(root / ATTR_FILE)
    part = parse_partition(root / SPLIT_FILE)
    missing_split = [n for n in names if n not in part]
    if missing_split:
        raise DataError(f"{len(missing_split)} labelled images have no split, e.g. "
                        f"{missing_split[0]!r}", root / SPLIT_FILE)
    store = open_store(root, "img_align_celeba", "img_align_celeba.zip", "img_align_celeba")
    present = store.names()
    keep = np.array([n in present for n in names], dtype=bool)
    notes = []
    if not keep.all():
        notes.append(f"{int((~keep).sum())} of {len(names)} labelled images are absent from "
                     f"{store.describe()}; using the {int(keep.sum())} present")
    if not keep.any():
        raise DataError("none of the labelled images is present", store.describe())
    ids = np.asarray(names)[keep]
    mat = mat[keep]
    labels = {a: mat[:, i].astype(np.int64) for i, a in enumerate(attrs)}
    classes = {a: [f"not {a}", a] for a in attrs}
    split = np.asarray([part[n] for n in ids], dtype=np.int64)
    return FaceData("celeba", str(root), ids, labels, classes, split, store=store, notes=notes)
