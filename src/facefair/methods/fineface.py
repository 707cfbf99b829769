"""FineFACE: cross-layer mutual attention experts with multi-step mutual learning.

Paper: "FineFACE: Fair Facial Attribute Classification Leveraging Fine-grained Features"
(../shared/papers/fineface-paper.md, sections 3.1-3.3 and Algorithm 1 of the supplement;
after CMAL-Net, Liu et al. 2023), as ../shared/SPEC.md pins it. Protected labels are never
read. One training iteration is N + 2 optimizer steps of ONE optimizer:

1. expert N on the raw input (CE); the same forward gives every expert's CAM, hence the
   attention crops A_1..A_N and A_oval (computed before the update, without gradients);
2..N. expert n = N-1 .. 1 on an input drawn uniformly (per batch) from {raw} and the crops
   A_m of the other experts (m != n);
N+1. every expert and the concatenation on A_oval: sum_n CE(p_n) + 2 CE(p_concat);
N+2. the concatenation on the raw input: 2 CE(p_concat).

A step only builds the graph of what it trains, so parameters outside it get no gradient and
the optimizer leaves them alone (momentum and weight decay included: their grads are None).
Inference sums the 2(N + 1) logits of the raw image and of its A_oval crop (``inference``
selects the paper's ablation rules instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..models import build_backbone
from ..models.attention import attention_crop
from ..models.experts import ACTIVATIONS, POOLINGS, FineFACENet, parse_expert_mode
from .base import Batch, Method, MethodOptions, StepContext, register

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..data import Task


@dataclass
class FineFACEOptions(MethodOptions):
    """FineFACE: shallow-to-deep experts that teach each other through attention crops.

    Attributes
    ----------
    stages: backbone stages the experts read (ResNet layer2..4 = 3, 4, 5).
    width: C_v, the descriptor length.
    hidden: the classifiers' hidden width (the published code's).
    activation: the heads' activation: ``elu`` (the paper's) or ``relu`` (the published code's).
    pooling: global ``max`` (the paper's) or ``avg`` pooling (the ablation).
    threshold: t: the attention mask is the normalised CAM >= t.
    padding: the crop box's padding, a fraction of H and W.
    head_lr: learning rate of the heads and classifiers.
    backbone_lr: learning rate of the backbone (the paper fine-tunes a pretrained one).
    concat_weight: the factor of CE(p_concat) in steps N+1 and N+2.
    inference: the answer at test time: ``fused`` (the paper's), ``raw``, ``crop``, ``concat``
        or one expert alone (``expert1`` .. ``expertN``).
    """

    stages: tuple[int, ...] = (3, 4, 5)  # backbone stages the experts read (ResNet layer2..4)
    width: int = 1024  # C_v, the descriptor length
    hidden: int = 512  # the classifiers' hidden width (published code)
    activation: str = "elu"  # heads: elu (paper) or relu (published code)
    pooling: str = "max"  # global max (paper) or avg (the ablation)
    threshold: float = 0.5  # t: attention mask = normalised CAM >= t
    padding: float = 0.1  # crop box padding, fraction of H and W
    head_lr: float = 0.002  # heads and classifiers
    backbone_lr: float = 0.0002  # the backbone (the paper fine-tunes a pretrained one)
    concat_weight: float = 2.0  # the factor of CE(p_concat) in steps N+1 and N+2
    inference: str = "fused"  # fused | raw | crop | concat | expert1..expertN

    def __post_init__(self) -> None:
        stages = (self.stages,) if isinstance(self.stages, int) else self.stages
        self.stages = tuple(int(s) for s in stages)
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"--activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"--pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.head_lr <= 0 or self.backbone_lr < 0:
            raise ConfigError("--head-lr must be positive and --backbone-lr not negative")
        if self.concat_weight <= 0:
            raise ConfigError(f"--concat-weight must be positive, got {self.concat_weight}")
        if self.inference not in ("fused", "raw", "crop", "concat"):
            parse_expert_mode(self.inference, len(self.stages))


@register
class FineFACE(Method):
    name = "fineface"
    summary = "FineFACE: shallow-to-deep attention experts teaching each other; fused inference"
    uses_protected = False
    Options = FineFACEOptions
    options: FineFACEOptions
    #: the paper's optimizer (SPEC: SGD momentum 0.9, weight decay 5e-4, cosine schedule);
    #: the learning rates are the per-part options head_lr and backbone_lr
    train_defaults: ClassVar[dict[str, Any]] = {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 5e-4,
                                                "schedule": "cosine", "lr": 0.002}

    def build_model(self, cfg: TrainConfig, task: Task) -> nn.Module:
        o = self.options
        return FineFACENet(build_backbone(cfg.arch), o.stages, width=o.width, hidden=o.hidden,
                           activation=o.activation, pooling=o.pooling, n_classes=len(task.y_classes),
                           threshold=o.threshold, padding=o.padding)

    def param_groups(self, model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
        """Two learning rates in one optimizer: the backbone's and everything else's."""
        backbone = [p for p in model.backbone.parameters() if p.requires_grad]
        own = {id(p) for p in backbone}
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in own]
        groups = [{"params": rest, "lr": self.options.head_lr, "name": "heads"}]
        if self.options.backbone_lr > 0:
            groups.append({"params": backbone, "lr": self.options.backbone_lr, "name": "backbone"})
        else:  # a frozen backbone
            for p in backbone:
                p.requires_grad_(False)
        return groups

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        assert isinstance(model, FineFACENet)
        x, y, n_exp = batch.x, batch.y, model.n_experts
        last = n_exp - 1
        w = self.options.concat_weight
        losses: dict[str, float] = {}

        # step 1: expert N on the raw input; its forward also gives every expert's CAM
        with ctx.autocast():
            out = model.run_experts(x, grad_experts=[last])
            loss = F.cross_entropy(out.logits[last].float(), y)
        cams = model.expert_cams(out, tuple(x.shape[-2:]))
        with torch.no_grad():
            a_oval = model.attention_input(x, cams)
        del out
        ctx.step(loss)
        losses[f"expert{n_exp}"] = float(loss.detach())

        # steps 2..N: shallower experts on raw or another expert's crop, drawn per batch
        for n in range(last - 1, -1, -1):
            pool = [None] + [m for m in range(n_exp) if m != n]  # None: the raw input
            src = pool[int(torch.randint(len(pool), (1,), generator=ctx.generator))]
            with torch.no_grad():  # only the drawn crop is made
                inp = x if src is None else attention_crop(x, cams[src], model.threshold, model.padding)
            with ctx.autocast():
                loss = F.cross_entropy(model.run_experts(inp, experts=[n]).logits[n].float(), y)
            ctx.step(loss)
            losses[f"expert{n + 1}"] = float(loss.detach())

        # step N+1: all experts and the concatenation on A_oval
        with ctx.autocast():
            out = model.run_experts(a_oval, concat=True)
            assert out.concat is not None
            loss = sum(F.cross_entropy(out.logits[n].float(), y) for n in range(n_exp))
            loss = loss + w * F.cross_entropy(out.concat.float(), y)
        ctx.step(loss)
        losses["attention"] = float(loss.detach())

        # step N+2: the concatenation on the raw input
        with ctx.autocast():
            out = model.run_experts(x, concat=True)
            assert out.concat is not None
            loss = w * F.cross_entropy(out.concat.float(), y)
        ctx.step(loss)
        losses["concat"] = float(loss.detach())
        return {"loss": losses["concat"] / w, **losses}

    def predict_logits(self, model: nn.Module, x: torch.Tensor, group: torch.Tensor | None = None) -> torch.Tensor:
        assert isinstance(model, FineFACENet)
        return model.predict(x, self.options.inference)
