"""The synthetic biased faces: seeded, correlated in train only, quick to make."""

from __future__ import annotations

import numpy as np
import pytest

from facefair.data import load_dataset
from facefair.data.synthetic import render_faces


def test_deterministic_by_seed() -> None:
    a = load_dataset("synthetic", n_train=200, n_val=50, n_test=50, size=32, seed=3)
    b = load_dataset("synthetic", n_train=200, n_val=50, n_test=50, size=32, seed=3)
    c = load_dataset("synthetic", n_train=200, n_val=50, n_test=50, size=32, seed=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels["smile"], b.labels["smile"])
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.9])
def test_train_correlation_is_the_parameter_and_test_is_independent(rho: float) -> None:
    d = load_dataset("synthetic", n_train=20000, n_val=100, n_test=20000, size=16, correlation=rho)
    tr, te = d.split == 0, d.split == 2
    agree = np.mean(d.labels["smile"][tr] == d.labels["group"][tr])
    assert agree == pytest.approx((1 + rho) / 2, abs=0.01)
    assert np.corrcoef(d.labels["smile"][te], d.labels["group"][te])[0, 1] == pytest.approx(0, abs=0.03)


def test_attributes_are_visible() -> None:
    """Skin tone (group) shows on the face; smile changes only the mouth's pixels."""
    d = load_dataset("synthetic", n_train=400, n_val=10, n_test=10, size=48, correlation=0.0)
    cheek = d.images[:, 24:28, 14:18].astype(float).mean(axis=(1, 2, 3))
    g = d.labels["group"][: len(cheek)]
    assert cheek[g == 0].mean() - cheek[g == 1].mean() > 60
    ones, zeros = np.ones(64, int), np.zeros(64, int)
    smiling = render_faces(ones, zeros, zeros, 48, np.random.default_rng(0), noise=0.0)
    neutral = render_faces(zeros, zeros, zeros, 48, np.random.default_rng(0), noise=0.0)
    diff = np.abs(smiling.astype(int) - neutral.astype(int)).max(axis=(0, 3))
    rows, cols = np.nonzero(diff > 30)
    assert len(rows) > 0
    assert rows.min() >= 20 and 8 <= cols.min() and cols.max() <= 40  # the mouth: lower face, centre
