"""Linear probes of frozen features: a known answer on planted features, and the check that the
shipped EfficientNet-Lite0 weights are ImageNet-trained (real CelebA; skipped where absent)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import shared

from facefair.analysis import frozen_features, linear_probe
from facefair.config import TrainConfig
from facefair.data.from_config import load_task
from facefair.data.loader import SplitImages
from facefair.models import build_model
from facefair.models.pretrained import load_pretrained


def test_probe_reads_a_planted_direction_and_not_noise() -> None:
    rng = np.random.default_rng(0)

    def split(n: int, signal: float) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, n)
        x = rng.normal(size=(n, 20))
        x[:, 3] += signal * (2 * y - 1)
        return x, y

    r = linear_probe(split(400, 3.0), split(200, 3.0), split(400, 3.0))
    assert r.test_accuracy > 0.98 and r.l2 in (1e-4, 1e-3, 1e-2, 1e-1)
    noise = linear_probe(split(400, 0.0), split(200, 0.0), split(400, 0.0))
    assert 0.4 < noise.test_accuracy < 0.6


@pytest.mark.realdata
def test_lite0_imagenet_features_beat_a_random_network_on_celeba_smiling() -> None:
    """The same images, the same probe: pretrained far above random (benchmarks/linear_probe.py
    is the full version: three tasks, more images, 96 px)."""
    root = shared("celeba")
    cfg = TrainConfig(dataset="celeba", root=str(root), target="Smiling", protected="Male", size=64, cache=None)
    task = load_task(cfg)
    n = {"train": 600, "val": 200, "test": 400}
    splits = {s: SplitImages(task, task.indices(s, k, 0), 64) for s, k in n.items()}
    acc = {}
    for start in ("imagenet", "random"):
        torch.manual_seed(0)
        model = build_model("efficientnet_lite0")
        if start == "imagenet":
            load_pretrained(model.backbone)
        feats = {s: frozen_features(model, d) for s, d in splits.items()}
        acc[start] = linear_probe(feats["train"], feats["val"], feats["test"]).test_accuracy
    assert acc["imagenet"] > 0.68, acc
    assert acc["imagenet"] > acc["random"] + 0.1, acc
