"""How close generated faces are to real ones, measured without downloading anything.

FID (Heusel et al. 2017) is the Frechet distance between Gaussians fitted to Inception-v3
features of real and generated images; Inception's weights cannot be downloaded here, so
facefair computes the same distance in the pooled features of the ImageNet EfficientNet-Lite0
that a registry package ships (``FD-Lite0``, images resized to 96 px). What it can tell: with
the same feature network, image size and sample count, a lower value means generated features
whose mean and covariance are closer to the real ones; ``floor`` (two disjoint sets of real
images of the same size) shows what sampling noise alone gives. What it cannot: it is not
comparable with published FID values (another network, another size, fewer samples, and the
estimate is biased upward at small n), and a low value does not say that the attributes the
methods edit (smile, gender) are rendered faithfully; the sample grids and the labellers'
agreement say more about that.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch

from ..models import build_model
from ..models.pretrained import load_pretrained
from .model import resize

FEATURE_SIZE = 96


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)) between two Gaussians."""
    with warnings.catch_warnings():  # fewer samples than features: the covariances are singular
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as FID's reference code does
        eps = np.eye(len(cov1)) * 1e-6
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            covmean = scipy.linalg.sqrtm((cov1 + eps) @ (cov2 + eps))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))


def gaussian(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return feats.mean(0), np.cov(feats, rowvar=False)


class FeatureNet:
    """Pooled features of the ImageNet EfficientNet-Lite0 (the registry package's weights)."""

    def __init__(self) -> None:
        self.model = build_model("efficientnet_lite0")
        self.record = load_pretrained(self.model.backbone, download=False)
        self.model.eval()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, batch_size: int = 32) -> np.ndarray:
        """Features of [0, 1] images (N, 3, H, W), as float64."""
        return np.concatenate([self.model.features(resize(part.float(), FEATURE_SIZE)).double().numpy()
                               for part in x.split(batch_size)])

