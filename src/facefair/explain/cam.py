"""Class activation maps, batched, normalised to [0, 1] at the input size.

- FineFACE (:class:`~facefair.models.experts.FineFACENet`): each expert's CAM for its own
  predicted class and the overall map (their renormalised sum, the map A_oval is cut from),
  exactly the maps its training and inference use (FineFACE Figure 3).
- Every other model (a :class:`~facefair.models.classifier.FaceClassifier` with any head:
  ERM, ASAC, domain-independent, ...): Grad-CAM (Selvaraju et al. 2017, through Captum) of
  the explained class's logit as the method predicts it, at the backbone's last stage. For
  global average pooling and one linear head it equals ReLU of the classic CAM (Zhou et al.
  2016), which the tests check.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from ..methods.base import Method
from ..models.attention import upsample_normalized
from ..models.experts import FineFACENet
from .base import Explainer


@torch.no_grad()
def fineface_cams(model: FineFACENet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each expert's CAM for its own predicted class, and the overall map."""
    size = (int(x.shape[-2]), int(x.shape[-1]))
    cams = model.expert_cams(model.run_experts(x), size)
    maps = {f"expert {n + 1}": cams[n] for n in range(model.n_experts)}
    maps["overall"] = model.overall_map(cams)
    return maps


class CAMExplainer(Explainer):
    name: ClassVar[str] = "cam"
    summary: ClassVar[str] = "FineFACE per-expert and overall CAMs; Grad-CAM at the last stage for other models"

    def __init__(self, method: Method, model: nn.Module, explain_class: str = "positive"):
        super().__init__(method, model, explain_class)
        if not isinstance(model, FineFACENet) and cam_layer(model) is None:
            raise ConfigError(f"no class activation map for a {type(model).__name__}: Grad-CAM needs its last "
                              "convolutional stage (a facefair backbone, or an audited model's last Conv2d; a "
                              "TorchScript model hides its layers, so audit it with --model-factory for Grad-CAM)")

    def maps(self, x: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if isinstance(self.model, FineFACENet):
            return fineface_cams(self.model, x)  # each expert explains its own predicted class
        return {"Grad-CAM": self.grad_cam(x, self.target(x, y, group), group)}

    def grad_cam(self, x: torch.Tensor, target: torch.Tensor, group: torch.Tensor | None) -> torch.Tensor:
        from captum.attr import LayerGradCam

        layer = cam_layer(self.model)
        extra = (group,) if group is not None else None
        with torch.enable_grad():
            raw = LayerGradCam(self.forward, layer).attribute(x, target=target, additional_forward_args=extra,
                                                               relu_attributions=True)
        size = (int(x.shape[-2]), int(x.shape[-1]))
        up, _ = upsample_normalized(raw.detach()[:, 0], size)
        return up


def cam_layer(model: nn.Module) -> nn.Module | None:
    """The layer Grad-CAM reads: a facefair model's backbone, or what a wrapper names
    ``cam_layer`` (an audited model's last convolution)."""
    layer = getattr(model, "backbone", None) or getattr(model, "cam_layer", None)
    return layer if isinstance(layer, nn.Module) else None


def model_cams(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """CAMs of a bare model (ERM prediction rule, predicted class): kept for the Python API."""
    from ..methods.erm import ERM

    return CAMExplainer(ERM(), model, "pred")(x, torch.zeros(len(x), dtype=torch.long))


__all__ = ["CAMExplainer", "cam_layer", "fineface_cams", "model_cams"]
