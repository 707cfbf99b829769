"""Attention crops: planted maps give the expected boxes, degenerate maps fall back, and the
batched crop equals cropping and resizing each image on its own."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from facefair.models.attention import (
    attention_boxes,
    attention_crop,
    combine_maps,
    crop_resize,
    minmax_normalize,
    upsample_normalized,
)


def planted(h: int, w: int, boxes: list[tuple[int, int, int, int]]) -> torch.Tensor:
    maps = torch.zeros(len(boxes), h, w)
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        maps[i, y0:y1, x0:x1] = 1.0
    return maps


def test_planted_map_gives_the_padded_box() -> None:
    maps = planted(32, 40, [(10, 15, 5, 10), (0, 4, 36, 40)])
    boxes = attention_boxes(maps, threshold=0.5, padding=0.1)
    # rows grow by 0.1 * 32 = 3.2 px, columns by 0.1 * 40 = 4 px; clamped to the image
    assert boxes[0].tolist() == [math.floor(10 - 3.2), math.ceil(15 + 3.2), 5 - 4, 10 + 4]
    assert boxes[1].tolist() == [0, math.ceil(4 + 3.2), 36 - 4, 40]
    assert attention_boxes(maps, 0.5, padding=0.0).tolist() == [[10, 15, 5, 10], [0, 4, 36, 40]]


def test_threshold_selects_the_strong_part() -> None:
    m = torch.zeros(1, 20, 20)
    m[0, 2:18, 2:18] = 0.3  # weak, wide evidence
    m[0, 8:11, 12:15] = 1.0  # strong spot
    assert attention_boxes(m, 0.5, 0.0).tolist() == [[8, 11, 12, 15]]
    assert attention_boxes(m, 0.2, 0.0).tolist() == [[2, 18, 2, 18]]


@pytest.mark.parametrize("fill", [0.0, 3.5, float("nan"), float("inf")])
def test_constant_empty_or_broken_maps_fall_back_to_the_whole_image(fill: float) -> None:
    raw = torch.full((2, 4, 4), fill)
    norm, ok = upsample_normalized(raw, (24, 24))
    assert not ok.any()
    assert torch.isfinite(norm).all() and (norm == 0).all()
    for t in (0.0, 0.5):
        assert attention_boxes(norm, t, 0.1).tolist() == [[0, 24, 0, 24]] * 2
    x = torch.rand(2, 3, 24, 24)
    assert torch.allclose(attention_crop(x, norm), x, atol=1e-6)


def test_minmax_normalises_each_image_on_its_own() -> None:
    maps = torch.stack([torch.arange(16.0).view(4, 4), -5 * torch.arange(16.0).view(4, 4)])
    norm, ok = minmax_normalize(maps)
    assert ok.all()
    assert torch.allclose(norm[0], torch.arange(16.0).view(4, 4) / 15)
    assert torch.allclose(norm[1], 1 - torch.arange(16.0).view(4, 4) / 15)


def test_a_hot_feature_cell_maps_to_its_image_region() -> None:
    cam = torch.zeros(1, 4, 4)
    cam[0, 1, 2] = 1.0  # cell (1, 2) of a 4x4 map covers pixels [8, 16) x [16, 24) of 32x32
    box = attention_boxes(upsample_normalized(cam, (32, 32))[0], 0.5, 0.0)[0].tolist()
    assert box[0] <= 8 and box[1] >= 16 and box[2] <= 16 and box[3] >= 24
    assert box[0] >= 4 and box[1] <= 20 and box[2] >= 12 and box[3] <= 28


def test_combined_map_is_the_renormalised_sum() -> None:
    a, b = torch.rand(3, 8, 8), torch.rand(3, 8, 8)
    ref = a + b
    ref = (ref - ref.amin((1, 2), keepdim=True)) / (ref.amax((1, 2), keepdim=True) - ref.amin((1, 2), keepdim=True))
    assert torch.allclose(combine_maps([a, b]), ref, atol=1e-6)


def test_batched_crop_equals_cropping_each_image_then_resizing() -> None:
    torch.manual_seed(0)
    x = torch.rand(4, 3, 30, 26)
    boxes = torch.tensor([[0, 30, 0, 26], [3, 17, 5, 20], [10, 30, 0, 9], [14, 15, 11, 12]])
    out = crop_resize(x, boxes)
    for i, (y0, y1, x0, x1) in enumerate(boxes.tolist()):
        ref = F.interpolate(x[i:i + 1, :, y0:y1, x0:x1], size=(30, 26), mode="bilinear", align_corners=False)
        assert torch.allclose(out[i], ref[0], atol=1e-5), i
    assert torch.allclose(out[0], x[0], atol=1e-6)  # the whole-image box is the identity
