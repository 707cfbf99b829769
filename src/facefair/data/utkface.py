"""UTKFace (Zhang et al. 2017): labels live in file names ``age_gender_race_date.jpg[.chip.jpg]``.

gender 0 = Male, 1 = Female; race 0-4 = White, Black, Asian, Indian, Others. The real release
has a handful of malformed names; they are counted and reported, not fatal. UTKFace ships no
split, so a seeded 80/10/10 one is drawn (``split_seed``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import FaceData, random_split
from .images import FolderStore, ImageStore, ZipStore

RACES = ["White", "Black", "Asian", "Indian", "Others"]
GENDERS = ["Male", "Female"]
#: FairFace's age bins and their names, so an age group means the same in both datasets
AGE_BINS = [(0, 2), (3, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 200)]
MISSING = -1


def age_bin(age: int) -> str:
    """FairFace's age bin (and its name, ``more than 70`` for the last) of an age in years."""
    for lo, hi in AGE_BINS:
        if lo <= age <= hi:
            return f"{lo}-{hi}" if hi < 200 else "more than 70"
    raise ValueError(age)


def parse_name(base: str) -> tuple[dict[str, int], list[str]]:
    """The labels a file name carries, each read on its own: ``age_gender_race_date.jpg``
    with the real release's slips tolerated (spaces, a missing dot before ``jpg``, no race
    field, an empty field). Returns {field: code} for the fields that parse and what was wrong
    with the others."""
    stem = base.strip()
    for suffix in (".chip.jpg", ".jpg", "jpg"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    parts = [p.strip() for p in stem.split("_")]
    got: dict[str, int] = {}
    wrong: list[str] = []
    if parts and parts[0].isdigit() and int(parts[0]) <= 130:
        got["age"] = int(parts[0])
    else:
        wrong.append(f"age {parts[0]!r}" if parts else "no fields")
    if len(parts) > 1 and parts[1] in ("0", "1"):
        got["gender"] = int(parts[1])
    else:
        wrong.append(f"gender {parts[1]!r}" if len(parts) > 1 else "no gender field")
    # age_gender_date (three fields, the last a long date) has no race field
    if len(parts) >= 4 and parts[2] in ("0", "1", "2", "3", "4"):
        got["race"] = int(parts[2])
    else:
        wrong.append(f"race {parts[2]!r}" if len(parts) >= 4 else "no race field")
    return got, wrong


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
    """Read UTKFace image names under ``root`` (folder, ``UTKFace/`` or a zip).

    Each label is read on its own: a name whose race field is malformed keeps its age and
    gender (its race is missing, and a task on race leaves it out, listed); a name with no
    label at all is skipped and listed in ``skipped``. One file name reachable twice (the
    same image in two folders of an archive) is counted once, with a note.
    """
    store = _open(Path(root))
    names = sorted(store.names())
    age_classes = [age_bin(lo) for lo, _ in AGE_BINS]
    ids: list[str] = []
    fields: dict[str, list[int]] = {"age": [], "gender": [], "race": []}
    skipped: list[dict[str, str]] = []
    partial = 0
    seen: dict[str, str] = {}
    duplicates = 0
    for n in names:
        base = n.rsplit("/", 1)[-1]
        if not base.lower().rstrip().endswith("jpg"):
            continue  # not an image (a README, a folder entry)
        if base in seen:
            duplicates += 1
            continue
        seen[base] = n
        got, wrong = parse_name(base)
        if not got:
            skipped.append({"file": n, "why": "no label in the name: " + "; ".join(wrong)})
            continue
        partial += bool(wrong)
        ids.append(n)
        fields["age"].append(age_classes.index(age_bin(got["age"])) if "age" in got else MISSING)
        fields["gender"].append((1 if got["gender"] == 0 else 0) if "gender" in got else MISSING)  # Male = 1
        fields["race"].append(got.get("race", MISSING))
    if not ids:
        raise DataError("no image named age_gender_race_date.jpg found", store.describe())
    notes = []
    if skipped:
        notes.append(f"{len(skipped)} of {len(names)} file names carry no label and were skipped "
                     f"(listed in each evaluation's metrics file), e.g. {skipped[0]['file']!r}")
    if partial:
        notes.append(f"{partial} file names lack some label (e.g. no race field); they are kept, and a task "
                     "needing the missing label leaves them out")
    if duplicates:
        notes.append(f"{duplicates} file names appear twice in {store.describe()} (the same image in two "
                     "folders); each is counted once")
    labels = {k: np.asarray(v, dtype=np.int64) for k, v in fields.items()}
    classes = {"age": age_classes, "gender": ["Female", "Male"], "race": list(RACES)}  # gender as FairFace's
    # drop age bins never seen, keeping codes dense (missing stays missing)
    used = np.unique(labels["age"][labels["age"] >= 0])
    remap = np.full(len(age_classes), MISSING)
    remap[used] = np.arange(len(used))
    labels["age"] = np.where(labels["age"] >= 0, remap[np.clip(labels["age"], 0, None)], MISSING)
    classes["age"] = [age_classes[i] for i in used]
    split = random_split(len(ids), split_seed)
    return FaceData("utkface", str(root), np.asarray(ids), labels, classes, split,
                    store=store, notes=notes, skipped=skipped)
