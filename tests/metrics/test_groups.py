"""Group labels to codes: the hashed path for strings answers exactly as sorting does."""

from __future__ import annotations

import numpy as np
import pytest

from facefair.metrics import groups
from facefair.metrics.groups import group_codes


def _sorted_codes(arr: np.ndarray) -> tuple[list[int], list[str]]:
    uniques, codes = np.unique(arr, return_inverse=True)
    return codes.tolist(), [str(u) for u in uniques]


@pytest.mark.parametrize("seed", range(40))
def test_string_codes_equal_sorting(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = ["".join(rng.choice(list("ab\u00e9 Z0"), rng.integers(0, 12))) for _ in range(rng.integers(1, 12))]
    arr = np.array(pool)[rng.integers(0, len(pool), rng.integers(1, 400))]
    for a in (arr, np.char.encode(arr, "utf-8")):  # str and bytes labels
        codes, names = group_codes(a, "group")
        assert (codes.tolist(), names) == _sorted_codes(a)


def test_hash_collision_falls_back_to_sorting(monkeypatch: pytest.MonkeyPatch) -> None:
    # every row hashes alike: the check against each group's first row must catch it
    monkeypatch.setattr(groups, "_row_hash", lambda arr: np.zeros(len(arr), np.uint64))
    arr = np.array(["women", "men", "men", "women", "other"])
    codes, names = group_codes(arr, "group")
    assert names == ["men", "other", "women"]
    assert codes.tolist() == [2, 0, 0, 2, 1]


def test_prefix_strings_are_different_groups() -> None:
    # fixed-width rows are padded with zero bytes: "a" and "a " must still differ, "" is a group
    arr = np.array(["a", "a ", "", "a", "ab"])
    codes, names = group_codes(arr, "group")
    assert names == ["", "a", "a ", "ab"]
    assert codes.tolist() == [1, 2, 0, 1, 3]
