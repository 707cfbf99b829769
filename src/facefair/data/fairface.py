"""FairFace (Karkkainen & Joo 2021), padding-0.25 release, in its official layout.

``train/``, ``val/`` (or ``fairface-img-margin025-trainval.zip``) with
``fairface_label_train.csv`` and ``fairface_label_val.csv`` (``file,age,gender,race,
service_test``). FairFace has no test split: its val set serves as test, and a seeded
validation split is carved from train (``val_fraction``, ``split_seed``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..csvfile import read_csv
from ..errors import DataError
from .base import FaceData
from .images import open_store

LABEL_FILES = {"train": "fairface_label_train.csv", "val": "fairface_label_val.csv"}
ARCHIVE = "fairface-img-margin025-trainval.zip"
COLUMNS = ("file", "age", "gender", "race")


def _age_key(v: str) -> tuple[int, str]:
    m = re.match(r"\d+", v)
    return (int(m.group()) if m else 10**6, v)


def read_label_csv(path: Path) -> list[dict[str, str]]:
    """Rows of one FairFace label file, every required column present and non-empty."""
    header, table = read_csv(path, "label file")
    for c in COLUMNS:
        if c not in header:
            raise DataError(f"missing column '{c}' (header: {','.join(header)})", path, 1)
    rows = []
    seen: set[str] = set()
    for ln, cells in table:
        rec = dict(zip(header, cells))
        for c in COLUMNS:
            if not rec[c]:
                raise DataError(f"empty value in column '{c}'", path, ln)
        if rec["file"] in seen:
            raise DataError(f"duplicate file {rec['file']!r}", path, ln)
        seen.add(rec["file"])
        rows.append(rec)
    return rows


def load_fairface(root: str | Path, val_fraction: float = 0.1, split_seed: int = 0) -> FaceData:
    """Read FairFace from ``root``; ``val`` becomes the test split."""
    root = Path(root)
    if not root.is_dir():
        raise DataError("FairFace root folder not found", root)
    train = read_label_csv(root / LABEL_FILES["train"])
    test = read_label_csv(root / LABEL_FILES["val"])
    store = open_store(root, "", ARCHIVE)
    present = store.names()
    rows, notes = [], []
    for part, recs in (("train", train), ("val", test)):
        kept = [r for r in recs if r["file"] in present]
        if len(kept) < len(recs):
            notes.append(f"{len(recs) - len(kept)} of {len(recs)} images in "
                         f"{LABEL_FILES[part]} are absent from {store.describe()}; "
                         f"using the {len(kept)} present")
        rows.append(kept)
    if not rows[0] or not rows[1]:
        raise DataError("no labelled images present for train or val", store.describe())
    all_rows = rows[0] + rows[1]
    split = np.concatenate([np.zeros(len(rows[0]), np.int64), np.full(len(rows[1]), 2, np.int64)])
    rng = np.random.default_rng(split_seed)
    n_val = round(val_fraction * len(rows[0]))
    split[rng.choice(len(rows[0]), size=n_val, replace=False)] = 1
    labels, classes = {}, {}
    for col in ("gender", "race", "age"):
        vals = [r[col] for r in all_rows]
        cls = sorted(set(vals), key=_age_key if col == "age" else None)
        lut = {c: i for i, c in enumerate(cls)}
        labels[col] = np.asarray([lut[v] for v in vals], dtype=np.int64)
        classes[col] = cls
    if "service_test" in all_rows[0]:
        labels["service_test"] = np.asarray([r["service_test"].lower() == "true" for r in all_rows],
                                            dtype=np.int64)
        classes["service_test"] = ["False", "True"]
    ids = np.asarray([r["file"] for r in all_rows])
    return FaceData("fairface", str(root), ids, labels, classes, split, store=store, notes=notes)
