"""Any dataset as a CSV manifest: an image-path column plus label columns.

Lets a user bring LFW, UTKFace crops in their own layout, or private data. Paths are relative
to the manifest's folder (or ``root``), and may not leave it unless ``allow_outside_root``.
An optional ``split`` column holds train/val/test (or 0/1/2); without it a seeded
80/10/10 split is drawn. CelebA's ten landmark columns (``lefteye_x`` ... ``rightmouth_y``, in
each image's own pixels), where all are present, are five landmarks per image for region
attribution (:mod:`facefair.face_regions`), not labels. Every other column is a label attribute.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..csvfile import read_csv
from ..errors import DataError, unknown_name
from ..face_regions import LANDMARK_COLUMNS, Landmarks
from .base import SPLITS, FaceData, encode_column, random_split
from .images import FolderStore

IMAGE_COLUMNS = ("image", "path", "file", "filename", "img")


def load_manifest(manifest: str | Path, root: str | Path | None = None, image_col: str | None = None,
                  split_col: str = "split", split_seed: int = 0,
                  allow_outside_root: bool = False) -> FaceData:
    """Read a CSV manifest; each named image must exist (an error names the line if not)."""
    path = Path(manifest)
    header, table = read_csv(path, "manifest")
    base = Path(root) if root is not None else path.parent
    base_abs = Path(os.path.abspath(base))
    if image_col is None:
        image_col = next((c for c in IMAGE_COLUMNS if c in header), None)
        if image_col is None:
            raise DataError(f"no image column: name one of {', '.join(IMAGE_COLUMNS)} or "
                            f"pass image_col (header: {','.join(header)})", path, 1)
    elif image_col not in header:
        raise unknown_name("column", image_col, header, where=f"{path}, line 1")
    has_landmarks = all(c in header for c in LANDMARK_COLUMNS)
    label_cols = [c for c in header if c not in (image_col, split_col)
                  and not (has_landmarks and c in LANDMARK_COLUMNS)]
    if not label_cols:
        raise DataError("no label columns besides the image column", path, 1)
    ids, splits = [], []
    cols: dict[str, list[str]] = {c: [] for c in label_cols}
    seen: dict[str, int] = {}
    points: list[list[float]] = []
    for ln, cells in table:
        rec = dict(zip(header, cells))
        rel = rec[image_col].replace("\\", "/")
        if not rel:
            raise DataError(f"empty '{image_col}'", path, ln)
        full = Path(os.path.abspath(base / rel))  # '..' collapsed, links kept
        if not allow_outside_root and os.path.commonpath([base_abs, full]) != str(base_abs):
            raise DataError(f"image path {rel!r} leaves the dataset root {base} "
                            "(allow it explicitly with allow_outside_root)", path, ln)
        if not full.is_file():
            raise DataError(f"image {rel!r} not found under {base}", path, ln)
        for c in label_cols:
            if rec[c] == "":
                raise DataError(f"empty label in column '{c}'", path, ln)
            cols[c].append(rec[c])
        if has_landmarks:
            try:
                points.append([float(rec[c]) for c in LANDMARK_COLUMNS])
            except ValueError:
                raise DataError("landmark columns must hold numbers (pixels of the image): "
                                + ", ".join(f"{c}={rec[c]!r}" for c in LANDMARK_COLUMNS[:2]), path, ln) from None
        if rel in seen:
            raise DataError(f"duplicate image {rel!r} (first on line {seen[rel]})", path, ln)
        seen[rel] = ln
        if split_col in header:
            s = rec[split_col].lower()
            code = SPLITS.get(s, {"0": 0, "1": 1, "2": 2}.get(s))
            if code is None:
                raise DataError(f"split must be train/val/test or 0/1/2, got {rec[split_col]!r}", path, ln)
            splits.append(code)
        ids.append(os.path.relpath(full, base_abs).replace(os.sep, "/") if allow_outside_root else rel)
    if not ids:
        raise DataError("no rows after the header", path)
    labels, classes = {}, {}
    for c in label_cols:
        labels[c], classes[c] = encode_column(cols[c])
    split = (np.asarray(splits, dtype=np.int64) if splits else random_split(len(ids), split_seed))
    data = FaceData(f"manifest:{path.name}", str(base), np.asarray(ids), labels, classes, split,
                    store=FolderStore(base))
    if has_landmarks:
        sizes = []
        for rel in ids:
            with Image.open(base / rel) as im:  # the header only: each image's own frame
                sizes.append(im.size)
        data.landmarks = Landmarks(np.asarray(points).reshape(-1, 5, 2), None, f"{path} (landmark columns)",
                                   np.asarray(sizes))
    return data
