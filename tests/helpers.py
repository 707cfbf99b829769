"""Test helpers: tiny real-format datasets written to tmp, and the ../shared data path."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SYNTH = {"n_train": 160, "n_val": 48, "n_test": 64}  # a tiny synthetic dataset's sizes
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def jpeg_bytes(seed: int, w: int = 40, h: int = 48) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def shared(name: str) -> Path:
    """A dataset folder under ../shared/data, or skip the test with a message."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data not available: {path} is absent (tests on real data need ../shared/data)")
    return path


def write_celeba(root: Path, n: int = 12, attrs: tuple[str, ...] = ("Male", "Smiling", "Young"),
                 absent: tuple[int, ...] = (), as_zip: bool = False, seed: int = 0) -> Path:
    """A miniature CelebA in the official layout; images in ``absent`` are labelled but missing."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    vals = rng.choice([-1, 1], size=(n, len(attrs)))
    # make both groups and both classes present in every split
    vals[: n // 2, 0] = -1
    vals[n // 2:, 0] = 1
    vals[::2, 1] = 1
    vals[1::2, 1] = -1
    lines = [str(n), " ".join(attrs)] + [f"{nm} " + " ".join(f"{v:2d}" for v in row) for nm, row in zip(names, vals)]
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    split = [0, 1, 2] * (n // 3 + 1)
    order = np.random.default_rng(seed + 1).permutation(n)
    part = {names[j]: split[k] for k, j in enumerate(order)}
    (root / "list_eval_partition.txt").write_text("".join(f"{nm} {part[nm]}\n" for nm in names))
    present = [nm for i, nm in enumerate(names) if i not in absent]
    if as_zip:
        with zipfile.ZipFile(root / "img_align_celeba.zip", "w") as z:
            for i, nm in enumerate(present):
                z.writestr(f"img_align_celeba/{nm}", jpeg_bytes(i))
    else:
        (root / "img_align_celeba").mkdir(exist_ok=True)
        for i, nm in enumerate(present):
            (root / "img_align_celeba" / nm).write_bytes(jpeg_bytes(i))
    return root


def write_manifest(folder: Path, smile_names: tuple[str, str] = ("no", "yes")) -> Path:
    """The synthetic test images as PNG files plus a manifest with renamed labels."""
    from facefair.data.synthetic import make_synthetic

    data = make_synthetic(**SYNTH, size=32)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in np.flatnonzero(data.split == 2):
        name = f"img/{data.ids[i]}.png"
        Image.fromarray(data.images[i]).save(folder / name)
        rows.append({"image": name, "smiling": smile_names[data.labels["smile"][i]],
                     "tone": ["light", "dark"][data.labels["group"][i]], "split": "test"})
    path = folder / "manifest.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path
