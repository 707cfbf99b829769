"""Face regions from five landmarks (left eye, right eye, nose, left and right mouth corner):
eyes, brows, nose, mouth, cheeks, chin/jaw, forehead and hair, background (SPEC "Face
regions").

Where the landmarks come from, first found first: CelebA's official
``list_landmarks_align_celeba.txt`` in the dataset root (178x218 coordinates of the aligned
images, whatever size the stored copies have); a manifest's landmark columns (CelebA's names,
``lefteye_x`` ... ``rightmouth_y``, in each image's own pixels); a template the user gives
(a JSON file ``{"frame": [W, H], "points": [[x, y] x 5]}``); CelebA's alignment template
(:data:`CELEBA_TEMPLATE`, read from the official file's rows: the alignment fixes the eyes).

Geometry, in face coordinates: ``a`` across the face in units of the eye distance from the
eyes' midpoint, ``b`` down the face in units of the eyes-to-mouth distance (eyes at b = 0,
mouth at b = 1). Each region is an ellipse or band in those units; a pixel takes the first
region of :data:`REGIONS` whose shape holds it, the background what no shape holds. Images go
through the pipeline's centre square crop and resize, so landmarks are mapped the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

#: the regions, in the order a pixel is assigned (the first shape holding it wins)
REGIONS = ("eyes", "brows", "mouth", "nose", "chin_jaw", "cheeks", "forehead_hair", "background")
#: CelebA's landmark columns, in the order of the official file: five (x, y) points
LANDMARK_COLUMNS = ("lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
                    "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y")
CELEBA_LANDMARKS_FILE = "list_landmarks_align_celeba.txt"


@dataclass(frozen=True)
class Landmarks:
    """Five points per image, (N, 5, 2) in the pixels of ``frame`` (W, H), or, where ``frame``
    is None, of each image's own size (``sizes``, (N, 2))."""

    points: np.ndarray
    frame: tuple[int, int] | None
    source: str
    sizes: np.ndarray | None = None

    def in_input(self, size: int) -> np.ndarray:
        """The points in the model input's pixels: the centre square crop, then the resize."""
        if self.frame is not None:
            wh = np.broadcast_to(np.asarray(self.frame, float), (len(self.points), 2))
        else:
            assert self.sizes is not None
            wh = self.sizes.astype(float)
        side = wh.min(1)
        offset = np.floor((wh - side[:, None]) / 2)
        return (self.points - offset[:, None, :]) * (size / side)[:, None, None]


#: CelebA's aligned images (178x218): eyes (69, 111) and (108, 111), nose (88, 135), mouth
#: corners (71, 152) and (105, 152) (SPEC, from about 600 rows of the official file)
CELEBA_TEMPLATE = ((178, 218), ((69, 111), (108, 111), (88, 135), (71, 152), (105, 152)))


def template(n: int, frame: tuple[int, int], points: tuple[tuple[float, float], ...] | list, source: str) -> Landmarks:
    """The same five points for ``n`` images."""
    pts = np.asarray(points, float)
    if pts.shape != (5, 2):
        raise DataError(f"a landmark template has five (x, y) points, got shape {pts.shape}", source)
    return Landmarks(np.broadcast_to(pts, (n, 5, 2)).copy(), (int(frame[0]), int(frame[1])), source)


def read_template(path: str | Path, n: int) -> Landmarks:
    """A user's template: ``{"frame": [W, H], "points": [[x, y], ... five]}`` (left eye, right
    eye, nose, left and right mouth corner)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        frame, points = doc["frame"], doc["points"]
        if len(frame) != 2:
            raise ValueError("frame is [W, H]")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"a landmark template is JSON {{\"frame\": [W, H], \"points\": [[x, y] x 5]}} ({e})",
                        path) from None
    return template(n, frame, points, str(path))


def read_celeba_landmarks(path: Path, ids: np.ndarray) -> Landmarks:
    """The official file's points for the images ``ids`` (it may hold rows of other images; an
    image without a row is an error naming it)."""
    rows: dict[str, np.ndarray] = {}
    with open(path) as f:
        lines = f.read().splitlines()
    for ln, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 11:
            raise DataError(f"a row is an image name and 10 coordinates, found {len(parts)} fields", path, ln)
        try:
            rows[parts[0]] = np.asarray([float(v) for v in parts[1:]]).reshape(5, 2)
        except ValueError:
            raise DataError(f"coordinates must be numbers: {line[:80]!r}", path, ln) from None
    missing = [str(i) for i in ids if _name(i) not in rows]
    if missing:
        raise DataError(f"has no row for {len(missing)} of the {len(ids)} images (e.g. {', '.join(missing[:3])}): "
                        "its rows do not match the images", path)
    return Landmarks(np.stack([rows[_name(i)] for i in ids]), (178, 218), str(path))


def _name(image_id: object) -> str:
    return Path(str(image_id)).name


def region_map(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) region index (into :data:`REGIONS`) of each pixel for one face's five
    points in input pixels."""
    le, re_, nose, lm, rm = (np.asarray(p, float) for p in points)
    eyes = (le + re_) / 2
    across = re_ - le
    d = max(float(np.linalg.norm(across)), 1e-6)
    u = across / d                         # across the face
    v = np.array([-u[1], u[0]])            # down the face (image y grows downwards)
    mouth = (lm + rm) / 2
    dd = max(float((mouth - eyes) @ v), 1e-6)
    yy, xx = np.mgrid[0:size, 0:size].astype(float) + 0.5
    p = np.stack([xx - eyes[0], yy - eyes[1]], -1)
    a, b = p @ u / d, p @ v / dd

    def ellipse(ca: float, cb: float, ra: float, rb: float) -> np.ndarray:
        return ((a - ca) / ra) ** 2 + ((b - cb) / rb) ** 2 <= 1

    na, nb = float((nose - eyes) @ u / d), float((nose - eyes) @ v / dd)
    ma = float((rm - lm) @ u / d) / 2      # half the mouth width, in eye distances
    mc = float((mouth - eyes) @ u / d)
    face = ellipse(0, 0.5, 1.0, 1.35)
    shapes = {
        "eyes": ellipse(-0.5, 0, 0.3, 0.22) | ellipse(0.5, 0, 0.3, 0.22),
        "brows": ellipse(-0.5, -0.36, 0.36, 0.16) | ellipse(0.5, -0.36, 0.36, 0.16),
        "mouth": ellipse(mc, 1.0, ma + 0.15, 0.22),
        # from between the eyes to just below the nose tip, as wide as the nostrils
        "nose": (b > 0.1) & (b < nb + 0.15) & (np.abs(a - na * np.clip(b / max(nb, 1e-6), 0, 1)) < 0.22),
        "chin_jaw": face & ((b > 1.22) | ((b > 0.85) & (np.abs(a - mc) > ma + 0.15))),
        "cheeks": face & (b >= 0.05),
        "forehead_hair": ellipse(0, 0.1, 1.35, 1.6) & (b < 0.05),
    }
    out = np.full((size, size), REGIONS.index("background"), np.int8)
    for name in reversed(REGIONS[:-1]):   # the first region of REGIONS is painted last: it wins
        out[shapes[name]] = REGIONS.index(name)
    return out


def region_maps(landmarks: Landmarks, size: int) -> np.ndarray:
    """(N, size, size) region indices for every image."""
    pts = landmarks.in_input(size)
    return np.stack([region_map(p, size) for p in pts])
