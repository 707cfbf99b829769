"""The real CelebA and FairFace files in ../shared/data (skipped with a message where absent)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import shared

from facefair.data import load_dataset

pytestmark = pytest.mark.realdata


def test_celeba_official_files() -> None:
    root = shared("celeba")
    data = load_dataset("celeba", root)
    assert len(data) == 46715 and len(data.attributes) == 40
    assert [int((data.split == s).sum()) for s in (0, 1, 2)] == [37540, 4535, 4640]
    male, smile = data.labels["Male"], data.labels["Smiling"]
    # the counts the data README states
    assert int(((male == 0) & (smile == 1)).sum()) == 14264
    assert int(((male == 0) & (smile == 0)).sum()) == 11655
    assert int(((male == 1) & (smile == 1)).sum()) == 8433
    assert int(((male == 1) & (smile == 0)).sum()) == 12363
    task = data.task("Smiling", "Male")
    assert task.group_classes == ["not Male", "Male"]
    img = data.store.load(str(data.ids[0]), 64)
    assert img.shape == (64, 64, 3) and img.std() > 10


def test_fairface_official_files() -> None:
    root = shared("fairface")
    data = load_dataset("fairface", root)
    assert len(data) == 20000
    assert int((data.split == 2).sum()) == 5000 and int((data.split == 1).sum()) == 1500
    assert len(data.classes["race"]) == 7 and data.classes["gender"] == ["Female", "Male"]
    task = data.task("gender", "race+gender")
    assert task.n_groups == 14
    for i in (0, 15000):
        img = data.store.load(str(data.ids[i]), 48)
        assert img.shape == (48, 48, 3) and np.asarray(img).std() > 10
