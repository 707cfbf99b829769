"""A procedurally drawn biased-face dataset: the demo's and most tests' default.

Each image is a cartoon face: an oval of skin over a coloured background, hair, two eyes and
a mouth. Two attributes are visible:

* ``smile`` (the target): the mouth's curvature. Smiling mouths bend up, others are flat or
  bend down; the two ranges overlap a little, so some mouths are genuinely ambiguous.
* ``group`` (the protected attribute): the skin tone, light (group A) or dark (group B).

In the train split the two are correlated (``correlation`` rho: P(group B | smiling) =
P(group A | not smiling) = (1 + rho) / 2); in val and test they are independent. A model
trained on it learns part of the shortcut "dark skin -> smiling", so its TPR and FPR differ
between groups on test: a real, measurable fairness gap. ``hair`` (dark/blond) is a third,
independent attribute. Everything is deterministic given ``seed``.
"""

from __future__ import annotations

import numpy as np

from .base import FaceData

SKIN = np.array([[0.93, 0.78, 0.66], [0.50, 0.34, 0.24]], dtype=np.float32)
#: where render_faces draws the five landmarks on average, in a 100x100 frame (eyes at the face
#: centre +-0.12 across and -0.08 up, mouth 0.17 below it, about 0.155 wide; no nose is drawn:
#: its point sits between eyes and mouth), for region attribution (facefair.face_regions)
SYNTHETIC_TEMPLATE = ((100, 100), ((38, 44), (62, 44), (50, 57), (35, 69), (65, 69)))
HAIR = np.array([[0.15, 0.10, 0.06], [0.85, 0.72, 0.35]], dtype=np.float32)


def _soft(d: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased inside test: 1 where d < 0, 0 where d > 0, smooth over ``width``."""
    return np.clip(0.5 - d / width, 0.0, 1.0)


def render_faces(smile: np.ndarray, group: np.ndarray, hair: np.ndarray, size: int,
                 rng: np.random.Generator, noise: float = 0.04) -> np.ndarray:
    """Draw faces for the given attribute codes: (N, size, size, 3) uint8."""
    n = len(smile)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    yy, xx = (yy + 0.5) / size, (xx + 0.5) / size
    px = 1.5 / size
    # per-image parameters, drawn up front so results do not depend on the chunk size
    bg = rng.uniform(0.15, 0.85, (n, 3)).astype(np.float32)
    cx = rng.normal(0.5, 0.03, n).astype(np.float32)
    cy = rng.normal(0.52, 0.03, n).astype(np.float32)
    rx = rng.uniform(0.28, 0.34, n).astype(np.float32)
    ry = rx * rng.uniform(1.15, 1.3, n).astype(np.float32)
    skin = SKIN[group] + rng.normal(0, 0.05, (n, 3)).astype(np.float32)
    hair_col = HAIR[hair] + rng.normal(0, 0.04, (n, 3)).astype(np.float32)
    # mouth curvature: smiling in [1, 5], not smiling in [-3, 1.5]; the overlap is ambiguous
    curv = np.where(smile == 1, rng.uniform(1.0, 5.0, n), rng.uniform(-3.0, 1.5, n)).astype(np.float32)
    mouth_w = rng.uniform(0.13, 0.18, n).astype(np.float32)
    eye_dy = rng.uniform(0.06, 0.10, n).astype(np.float32)
    for s in range(0, n, 256):
        e = min(n, s + 256)
        P = lambda a, s=s, e=e: a[s:e, None, None]
        dx, dy = xx[None] - P(cx), yy[None] - P(cy)
        face = _soft(np.sqrt((dx / P(rx)) ** 2 + (dy / P(ry)) ** 2) - 1.0, px / P(rx))
        hair_m = face * _soft(dy + P(ry) * 0.55, px)  # top cap of the face oval
        img = P(bg) * (1 - face[..., None])
        img = img + face[..., None] * P(skin)
        img = img * (1 - hair_m[..., None]) + hair_m[..., None] * P(hair_col)
        for side in (-1.0, 1.0):
            d = np.sqrt((dx - side * 0.12) ** 2 + (dy + P(eye_dy)) ** 2) - 0.035
            eye = _soft(d, px) * face
            img = img * (1 - eye[..., None]) + eye[..., None] * 0.08
        my = 0.17 + 0.0 * dx  # mouth centre below the face centre
        curve = my - P(curv) * dx ** 2  # image y grows downward: positive curvature = corners up
        mouth = _soft(np.abs(dy - curve) - 0.024, px) * _soft(np.abs(dx) - P(mouth_w), px)
        img = img * (1 - mouth[..., None]) + mouth[..., None] * np.array([0.45, 0.05, 0.08], np.float32)
        img = img + rng.normal(0, noise, img.shape).astype(np.float32)
        out[s:e] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def _attributes(n: int, correlation: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    smile = rng.integers(0, 2, n)
    agree = rng.random(n) < (1 + correlation) / 2
    group = np.where(agree, smile, 1 - smile)
    hair = rng.integers(0, 2, n)
    return smile, group, hair


def make_synthetic(n_train: int = 4000, n_val: int = 1000, n_test: int = 2000, size: int = 48,
                   correlation: float = 0.8, seed: int = 0) -> FaceData:
    """Build the synthetic biased-face dataset (train correlated, val/test independent)."""
    if not -1.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must lie in [-1, 1], got {correlation}")
    rng = np.random.default_rng(seed)
    parts = [_attributes(n_train, correlation, rng), _attributes(n_val, 0.0, rng),
             _attributes(n_test, 0.0, rng)]
    smile, group, hair = (np.concatenate(c) for c in zip(*parts))
    split = np.repeat([0, 1, 2], [n_train, n_val, n_test])
    images = render_faces(smile, group, hair, size, rng)
    ids = np.asarray([f"synth_{i:06d}" for i in range(len(smile))])
    labels = {"smile": smile.astype(np.int64), "group": group.astype(np.int64),
              "hair": hair.astype(np.int64)}
    classes = {"smile": ["not smiling", "smiling"], "group": ["A", "B"], "hair": ["dark", "blond"]}
    return FaceData("synthetic", f"synthetic(seed={seed}, correlation={correlation})", ids, labels,
                    classes, split.astype(np.int64), images=images)
