"""The in-memory form every dataset reader produces, and tasks over it.

A reader parses the official label files into a :class:`FaceData`: image names, integer-coded
attributes with their class names, and the split of each image (0 train, 1 val, 2 test).
A :class:`Task` picks a binary target and a (possibly intersectional) protected attribute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, unknown_name
from .images import ImageStore

SPLITS = {"train": 0, "val": 1, "test": 2}
#: every image regardless of split (a cross-dataset test scores a dataset the model never saw)
ALL = "all"


@dataclass
class FaceData:
    """A labelled face dataset: names, attributes, splits, and where its pixels come from.

    Pixels come from ``store`` (decoded on demand) unless ``images`` holds them already
    (the synthetic dataset, or a prepared cache attached with :meth:`attach_images`).
    """

    name: str
    root: str
    ids: np.ndarray
    labels: dict[str, np.ndarray]
    classes: dict[str, list[str]]
    split: np.ndarray
    store: ImageStore | None = None
    images: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    #: files the reader could not use, each {"file", "why"}: listed in every evaluation's metrics
    skipped: list[dict[str, str]] = field(default_factory=list)
    #: five landmarks per image where the dataset gives them (a manifest's landmark columns):
    #: a :class:`facefair.face_regions.Landmarks`
    landmarks: Any = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        for k, v in self.labels.items():
            assert len(v) == n, f"attribute {k} has {len(v)} labels for {n} images"
        assert len(self.split) == n

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def attributes(self) -> list[str]:
        return list(self.labels)

    @property
    def image_size(self) -> int | None:
        return None if self.images is None else int(self.images.shape[1])

    def attach_images(self, images: np.ndarray) -> None:
        """Use preloaded (N, S, S, 3) uint8 pixels (a prepared cache) instead of the store."""
        if images.shape[0] != len(self) or images.ndim != 4 or images.shape[3] != 3:
            raise DataError(f"cached images have shape {images.shape}, expected ({len(self)}, S, S, 3)")
        self.images = images

    def attribute(self, name: str) -> tuple[np.ndarray, list[str]]:
        """Codes and class names of one attribute, or of an intersection 'a+b'."""
        parts = [p.strip() for p in name.split("+")]
        for p in parts:
            if p not in self.labels:
                raise unknown_name("attribute", p, self.attributes, where=f"dataset {self.name}")
        if len(parts) == 1:
            return self.labels[parts[0]], self.classes[parts[0]]
        codes = np.zeros(len(self), dtype=np.int64)
        missing = np.zeros(len(self), dtype=bool)
        names = [""]
        for p in parts:
            k = len(self.classes[p])
            missing |= self.labels[p] < 0
            codes = codes * k + np.clip(self.labels[p], 0, None)
            names = [f"{a}|{b}" if a else b for a in names for b in self.classes[p]]
        used = np.unique(codes[~missing])  # drop intersections that never occur
        remap = np.full(len(names), -1)
        remap[used] = np.arange(len(used))
        return np.where(missing, -1, remap[codes]), [names[i] for i in used]

    def missing(self, *names: str) -> np.ndarray:
        """Which images lack a label of these attributes (a reader marks a missing label -1)."""
        out = np.zeros(len(self), dtype=bool)
        for name in names:
            out |= self.attribute(name)[0] < 0
        return out

    def task(self, target: str, protected: str) -> Task:
        """A binary-target task; every split must hold at least two protected groups."""
        y, y_classes = self.attribute(target)
        if len(y_classes) != 2:
            raise ConfigError(f"target '{target}' of dataset {self.name} has {len(y_classes)} "
                              f"classes ({', '.join(y_classes)}); facefair targets are binary")
        g, g_classes = self.attribute(protected)
        if target == protected:
            raise ConfigError(f"target '{target}' cannot also be the protected attribute")
        for sname, code in SPLITS.items():
            m = (self.split == code) & (g >= 0)
            if not m.any():
                continue
            present = np.unique(g[m])
            if len(present) < 2:
                raise DataError(f"split '{sname}' has only one '{protected}' group "
                                f"({g_classes[present[0]]!r}); fairness needs at least two",
                                f"dataset {self.name} at {self.root}")
        return Task(self, target, protected, y.astype(np.int64), y_classes, g.astype(np.int64), g_classes,
                    valid=~self.missing(target, protected))


@dataclass
class Task:
    """(dataset, binary target y, protected attribute a), SPEC section 'A task'."""

    data: FaceData
    target: str
    protected: str
    y: np.ndarray
    y_classes: list[str]
    group: np.ndarray
    group_classes: list[str]
    #: images with both labels (a reader marks a missing one -1); the others are never served
    valid: np.ndarray | None = None

    def indices(self, split: str, limit: int | None = None, seed: int = 0) -> np.ndarray:
        """Image indices of a split (``all``: every image, for a dataset the model never saw);
        ``limit`` takes a seeded random subset of that size."""
        if split != ALL and split not in SPLITS:
            raise unknown_name("split", split, (*SPLITS, ALL))
        keep = np.ones(len(self.y), dtype=bool) if split == ALL else self.data.split == SPLITS[split]
        idx = np.flatnonzero(keep if self.valid is None else keep & self.valid)
        if len(idx) == 0:
            raise DataError(f"dataset {self.data.name} has no '{split}' images")
        if limit is not None and limit < len(idx):
            rng = np.random.default_rng(seed)
            idx = np.sort(rng.choice(idx, size=limit, replace=False))
        return idx

    def skipped(self) -> list[dict[str, str]]:
        """Every file left out of this task: the reader's, then those missing a label it needs."""
        out = list(self.data.skipped)
        if self.valid is not None and not self.valid.all():
            lacking = {a: self.data.missing(a) for a in (self.target, self.protected)}
            for i in np.flatnonzero(~self.valid):
                lacks = [a for a, m in lacking.items() if m[i]]
                out.append({"file": str(self.data.ids[i]), "why": f"no {' or '.join(lacks)} label"})
        return out

    @property
    def n_groups(self) -> int:
        return len(self.group_classes)

    @classmethod
    def names_only(cls, names: dict[str, Any]) -> Task:
        """A task of class and group names and no images (a run folder's ``task.json``): what
        rebuilding a trained model needs, where its training data are not at hand."""
        return cls(data=None, target=str(names.get("target", "")), protected=str(names.get("protected", "")),  # type: ignore[arg-type]
                   y=np.empty(0, np.int64), y_classes=list(names["y_classes"]), group=np.empty(0, np.int64),
                   group_classes=list(names["group_classes"]))


def random_split(n: int, seed: int, val_fraction: float = 0.1, test_fraction: float = 0.1) -> np.ndarray:
    """A seeded train/val/test assignment for datasets that ship without a split."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_val, n_test = round(val_fraction * n), round(test_fraction * n)
    split = np.zeros(n, dtype=np.int64)
    split[order[:n_val]] = 1
    split[order[n_val:n_val + n_test]] = 2
    return split


def encode_column(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Integer codes for string labels: numeric order when all are numbers, else sorted.

    Binary -1/1 and 0/1 columns both become 0/1 with class names '-1'/'1' or '0'/'1', so the
    second class is always the positive one.
    """
    uniq = set(values)
    try:
        cls = sorted(uniq, key=float)
    except ValueError:
        cls = sorted(uniq)
    lut = {c: i for i, c in enumerate(cls)}
    return np.asarray([lut[v] for v in values], dtype=np.int64), cls
