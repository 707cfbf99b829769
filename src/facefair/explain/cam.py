"""Class activation maps of a trained model, batched, normalised to [0, 1] at the input size.

- FineFACE (:class:`~facefair.models.experts.FineFACENet`): each expert's CAM for its own
  predicted class and the overall map (their renormalised sum, the map A_oval is cut from),
  exactly the maps its training and inference use (FineFACE Figure 3).
- A :class:`~facefair.models.classifier.FaceClassifier` (ERM, ASAC, ...): global average
  pooling followed by a linear head makes the classic CAM of Zhou et al. (2016) exact: the
  head's weights of the predicted class over the last stage's feature map (FineFACE's
  Omega_ori of the baseline).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..models.attention import class_activation_map, upsample_normalized
from ..models.classifier import FaceClassifier
from ..models.experts import FineFACENet


@torch.no_grad()
def model_cams(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Named normalised maps (B, H, W) of ``x`` (float images in [0, 1]), model in eval mode."""
    was = model.training
    model.eval()
    size = (int(x.shape[-2]), int(x.shape[-1]))
    try:
        if isinstance(model, FineFACENet):
            out = model.run_experts(x)
            cams = model.expert_cams(out, size)
            maps = {f"expert {n + 1}": cams[n] for n in range(model.n_experts)}
            maps["overall"] = model.overall_map(cams)
            return maps
        if isinstance(model, FaceClassifier):
            fmap = model.backbone(model.normalize(x))
            k = model.head(model.pool(fmap).flatten(1)).argmax(1)
            raw = class_activation_map(fmap, model.head.weight[k])
            return {"CAM": upsample_normalized(raw, size)[0]}
        raise ConfigError(f"no class activation map for a {type(model).__name__}")
    finally:
        model.train(was)
