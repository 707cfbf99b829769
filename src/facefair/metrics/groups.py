"""Group labels held as integer codes into their sorted names."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError


@dataclass(frozen=True, eq=False)
class GroupLabels:
    """One protected group per row, as a code into ``names`` (sorted): 4 bytes a row, where a
    10^8-row file's labels as strings would take gigabytes. Reads as the labels it stands for
    (``list(g)``, ``np.asarray(g)``, ``g == labels``)."""

    codes: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[str]:
        return (self.names[c] for c in self.codes.tolist())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.names)[self.codes].astype(dtype) if dtype else np.asarray(self.names)[self.codes]

    def __eq__(self, other: object) -> Any:  # elementwise, as an array of the labels
        return np.asarray(self) == np.asarray(other)

    __hash__ = None  # type: ignore[assignment]


def group_codes(values: Sequence[Any] | np.ndarray, what: str) -> tuple[np.ndarray, list[str]]:
    """Integer codes for arbitrary group labels, with their sorted string names."""
    if isinstance(values, GroupLabels):  # already coded (a large predictions file)
        return values.codes, list(values.names)
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "US" and len(arr):
        coded = _string_codes(arr)
        if coded is not None:
            return coded
    uniques, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _string_codes(arr: np.ndarray) -> tuple[np.ndarray, list[str]] | None:
    """:func:`group_codes` of fixed-width strings through a 64-bit hash of each row's bytes:
    sorting 10^6 strings took 390 ms, hashing and sorting the hashes 78. Exact: every row is
    compared with its group's first row, and a hash collision (None) falls back to sorting."""
    _, first, inverse = np.unique(_row_hash(arr), return_index=True, return_inverse=True)
    reps = arr[first]
    if not np.array_equal(arr, reps[inverse]):
        return None
    order = np.argsort(reps, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank[inverse.reshape(-1)], [str(u) for u in reps[order]]


def _row_hash(arr: np.ndarray) -> np.ndarray:
    """A 64-bit multiply-xorshift hash of each row's bytes (equal strings, equal hashes)."""
    b = np.ascontiguousarray(arr).view(np.uint8).reshape(len(arr), -1)
    if b.shape[1] % 8:
        b = np.concatenate([b, np.zeros((len(arr), 8 - b.shape[1] % 8), np.uint8)], axis=1)
    words = b.view(np.uint64)
    h = np.zeros(len(arr), np.uint64)
    for k in range(words.shape[1]):
        h ^= words[:, k]
        h *= np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(29)
    return h
