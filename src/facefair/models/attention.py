"""Class activation maps and the attention crops FineFACE's experts feed each other.

All functions work on a whole batch at once (no per-image Python loop), so the attention
step costs a few tensor operations whatever the batch size. SPEC (FineFACE): upsample the
CAM bilinearly to the input size, min-max normalise per image, threshold at t, take the
bounding box of the mask padded by a fraction of H and W, crop, resize back to the input
size. A constant, empty or non-finite map falls back to the whole image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_activation_map(features: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
    """CAM(b, h, w) = sum_c class_weights[b, c] * features[b, c, h, w], for a batch.

    ``class_weights`` holds, per image, the classifier weights of the class whose evidence the
    map shows (Zhou et al. 2016); (B, C) against features (B, C, H, W).
    """
    return torch.einsum("bc,bchw->bhw", class_weights.float(), features.float())


def reference_cam_loop(features: torch.Tensor, classes: torch.Tensor, w1: torch.Tensor,
                       w2: torch.Tensor) -> torch.Tensor:
    """The published code's CAM of a two-layer classifier, one image at a time:
    (HW x C) @ W1^T @ W2[k]^T. Slow; kept as the reference the batched CAM is tested and
    benchmarked against."""
    b, c, h, w = features.shape
    out = torch.zeros(b, h, w)
    for i in range(b):
        m = features[i].float().reshape(c, h * w).t() @ w1.float().t()
        out[i] = (m @ w2.float()[classes[i]][:, None]).reshape(h, w)
    return out


def minmax_normalize(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image min-max scaling of (B, H, W) maps to [0, 1].

    Returns (maps, ok): ``ok[b]`` is False where the map is constant (a spread below 1e-6 of its
    magnitude: float rounding) or not finite; such a map
    is returned as zeros, so it selects nothing (and a crop falls back to the whole image).
    """
    flat = maps.float().flatten(1)
    lo, hi = flat.min(1).values, flat.max(1).values
    span = hi - lo
    ok = torch.isfinite(span) & (span > 1e-6 * torch.maximum(hi.abs(), lo.abs()).clamp_min(1e-30))
    safe_span = torch.where(ok, span, torch.ones_like(span))
    norm = (maps.float() - lo.view(-1, 1, 1)) / safe_span.view(-1, 1, 1)
    norm = torch.where(ok.view(-1, 1, 1), norm, torch.zeros_like(norm))
    return norm.clamp_(0.0, 1.0), ok


def upsample_normalized(maps: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear upsampling of (B, h, w) maps to ``size``, then :func:`minmax_normalize`."""
    up = F.interpolate(maps[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]
    return minmax_normalize(up)


def combine_maps(normalized: list[torch.Tensor]) -> torch.Tensor:
    """A_oval's map: the sum of the experts' normalised maps, renormalised to [0, 1]."""
    return minmax_normalize(torch.stack(normalized).sum(0))[0]


def attention_boxes(norm_maps: torch.Tensor, threshold: float = 0.5, padding: float = 0.1) -> torch.Tensor:
    """Boxes (B, 4) as integer pixel bounds (y0, y1, x0, x1), end-exclusive, of the mask ``map >= t``.

    The box covers every selected pixel, grows by ``padding`` * H (rows) and * W (columns) on
    each side and is clamped to the image. An empty mask gives the whole image.
    """
    _, h, w = norm_maps.shape
    mask = norm_maps >= threshold
    if threshold <= 0:
        mask = mask & (norm_maps > 0)  # t = 0 must not turn a fallback (all-zero) map into a box
    rows, cols = mask.any(2), mask.any(1)
    valid = rows.any(1)
    # first and last selected row/column, vectorised: argmax finds the first True
    y0 = rows.float().argmax(1)
    y1 = h - rows.flip(1).float().argmax(1)
    x0 = cols.float().argmax(1)
    x1 = w - cols.flip(1).float().argmax(1)
    ph, pw = padding * h, padding * w
    y0 = torch.floor(y0 - ph).clamp(min=0)
    y1 = torch.ceil(y1 + ph).clamp(max=h)
    x0 = torch.floor(x0 - pw).clamp(min=0)
    x1 = torch.ceil(x1 + pw).clamp(max=w)
    boxes = torch.stack([y0, y1, x0, x1], 1).long()
    whole = torch.tensor([0, h, 0, w], device=boxes.device)
    return torch.where(valid[:, None], boxes, whole)


def crop_resize(images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Crop each image to its box and resize it bilinearly back to the full size (batched).

    One ``affine_grid``/``grid_sample`` call: the sampling grid maps the output's pixel centres
    onto the box; the whole-image box (the fallback) returns the image itself.
    """
    n, _, h, w = images.shape
    b = boxes.to(images.device, torch.float32)
    y0, y1, x0, x1 = b.unbind(1)
    # box edges in normalised coordinates (align_corners=False: -1 and 1 are the image's edges)
    theta = torch.zeros(n, 2, 3, device=images.device)
    theta[:, 0, 0] = (x1 - x0) / w
    theta[:, 0, 2] = (x1 + x0) / w - 1
    theta[:, 1, 1] = (y1 - y0) / h
    theta[:, 1, 2] = (y1 + y0) / h - 1
    grid = F.affine_grid(theta, [n, images.shape[1], h, w], align_corners=False)
    # never sample outside the box: clamp to its edge pixels' centres, as resizing the
    # cropped image alone would (the border pixels are repeated, not the neighbours read)
    lo = torch.stack([(2 * x0 + 1) / w - 1, (2 * y0 + 1) / h - 1], 1).view(n, 1, 1, 2)
    hi = torch.stack([(2 * x1 - 1) / w - 1, (2 * y1 - 1) / h - 1], 1).view(n, 1, 1, 2)
    grid = torch.maximum(torch.minimum(grid, hi), lo)
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    whole = (y0 == 0) & (x0 == 0) & (y1 == h) & (x1 == w)  # exactly the image, not a resampling
    return torch.where(whole.view(-1, 1, 1, 1), images, out.to(images.dtype))


def attention_crop(images: torch.Tensor, norm_maps: torch.Tensor, threshold: float = 0.5,
                   padding: float = 0.1) -> torch.Tensor:
    """The attention region of each image: crop to the box of its map, resized to full size."""
    return crop_resize(images, attention_boxes(norm_maps, threshold, padding))
