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
    uniques, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64), [str(u) for u in uniques]
