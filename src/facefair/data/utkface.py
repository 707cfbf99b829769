"""UTKFace (Zhang et al. 2017): labels live in file names ``age_gender_race_date.jpg[.chip.jpg]``.

gender 0 = Male, 1 = Female; race 0-4 = White, Black, Asian, Indian, Others. The real release
has a handful of malformed names; they are counted and reported, not fatal. UTKFace ships no
split, so a seeded 80/10/10 one is drawn (``split_seed``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import FaceData, random_split
from .images import FolderStore, ImageStore, ZipStore

RACES = ["White", "Black", "Asian", "Indian", "Others"]
GENDERS = ["Male", "Female"]
AGE_BINS = [(0, 2), (3, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 200)]
NAME_RE = re.compile(r"^(\d+)_([01])_([0-4])_(\d+)\.jpg(\.chip\.jpg)?$")


def age_bin(age: int) -> str:
    """FairFace-style age bins, so the two datasets' age groups line up."""
    for lo, hi in AGE_BINS:
        if lo <= age <= hi:
            return f"{lo}-{hi}" if hi < 200 else f"{lo}+"
    raise ValueError(age)


def _open(root: Path) -> ImageStore:
    if root.is_file() and root.suffix == ".zip":
        return ZipStore(root)
    for zname in ("UTKFace.zip", "utkface.zip"):
        if (root / zname).is_file() and not (root / "UTKFace").is_dir():
            return ZipStore(root / zname)
    if (root / "UTKFace").is_dir():
        return FolderStore(root / "UTKFace")
    if root.is_dir():
        return FolderStore(root)
    raise DataError("UTKFace folder or archive not found", root)


def load_utkface(root: str | Path, split_seed: int = 0) -> FaceData:
    """Read UTKFace image names under ``root`` (folder, ``UTKFace/`` or a zip)."""
    store = _open(Path(root))
    names = sorted(store.names())
    ids, ages, genders, races, bad = [], [], [], [], []
    for n in names:
        m = NAME_RE.match(n.rsplit("/", 1)[-1])
        if not m:
            bad.append(n)
            continue
        ids.append(n)
        ages.append(age_bin(int(m.group(1))))
        genders.append(GENDERS[int(m.group(2))])
        races.append(RACES[int(m.group(3))])
    if not ids:
        raise DataError("no image named age_gender_race_date.jpg found", store.describe())
    notes = []
    if bad:
        notes.append(f"{len(bad)} of {len(names)} file names are malformed and were skipped, "
                     f"e.g. {bad[0]!r}")
    age_classes = [age_bin(lo) for lo, _ in AGE_BINS]
    gender_classes = ["Female", "Male"]  # same coding as FairFace: Male = 1
    labels = {
        "age": np.asarray([age_classes.index(a) for a in ages], dtype=np.int64),
        "gender": np.asarray([gender_classes.index(g) for g in genders], dtype=np.int64),
        "race": np.asarray([RACES.index(r) for r in races], dtype=np.int64),
    }
    classes = {"age": age_classes, "gender": gender_classes, "race": list(RACES)}
    # drop age bins never seen, keeping codes dense
    used = np.unique(labels["age"])
    remap = np.full(len(age_classes), -1)
    remap[used] = np.arange(len(used))
    labels["age"], classes["age"] = remap[labels["age"]], [age_classes[i] for i in used]
    split = random_split(len(ids), split_seed)
    return FaceData("utkface", str(root), np.asarray(ids), labels, classes, split,
                    store=store, notes=notes)
