"""The contract between a training method and the one trainer.

A method says how to build its model, which parameter groups the optimizer gets, and what
one training iteration does with a batch. The trainer owns everything else (data order,
optimizer, schedule, clipping, autocast, checkpoints, validation, logging), so adding a
method is one module registered by name, never a copied training script.

An iteration calls ``ctx.step(loss)`` once per optimizer step it wants: ERM once, FineFACE
N + 2 times, ASAC once per curriculum micro-batch.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn

from ..data.loader import SplitImages, iterate, to_input
from ..errors import unknown_name
from ..models import build_model
from ..options import coerce, declared_types

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..data import Task


@dataclass
class Batch:
    """One training batch on the model's device; ``x`` is float NCHW in [0, 1]."""

    x: torch.Tensor
    y: torch.Tensor
    group: torch.Tensor
    index: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])


class StepContext(Protocol):
    """What the trainer lends a method during one iteration."""

    generator: torch.Generator  # seeded, checkpointed randomness for the method
    epoch: int

    def step(self, loss: torch.Tensor) -> None:
        """backward, grad-norm clip, optimizer step, zero grads."""

    def autocast(self) -> AbstractContextManager[Any]:
        """The configured mixed-precision context (no-op in fp32)."""


@dataclass
class RunSetup:
    """What a method's ``setup`` may read: the run's config, task, device and train data."""

    cfg: TrainConfig
    task: Task
    device: torch.device
    out: Path
    train_ds: SplitImages
    #: rebuilds another trained run (:func:`facefair.runfolder.load_run`), lent by the trainer so
    #: that a method reading one (ASAC's independent protected classifier) imports no run loading
    load_run: Callable[..., Any] | None = None
    #: the validation split (g-SMOTE's adaptive sampling reads its per-cell losses each epoch)
    val_ds: SplitImages | None = None

    def train_batches(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images on the device, protected labels) of the train split, in order, unflipped."""
        for b in self.split_batches(self.train_ds, batch_size):
            yield to_input(b["x"], self.device, self.cfg.channels_last), b["group"].to(self.device)

    def split_batches(self, ds: SplitImages, batch_size: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """The raw batches (uint8 images, labels, groups, indices) of a split, in order."""
        yield from iterate(ds, batch_size or self.cfg.eval_batch_size, workers=self.cfg.workers, device=self.device)


@dataclass
class MethodOptions:
    """Base of each method's options; subclasses add typed fields with paper defaults."""

    @classmethod
    def parse(cls, items: dict[str, Any]) -> MethodOptions:
        """Options from ``key=value`` text or already-typed values, each checked against its
        declared type (:func:`facefair.options.coerce`)."""
        known = declared_types(cls)
        kwargs = {}
        for k, v in items.items():
            key = k.replace("-", "_")
            if key not in known:
                raise unknown_name("option of this method", k, known)
            kwargs[key] = coerce(v, known[key], k)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Method(ABC):
    """A training method: subclass, set ``name``/``summary``, implement ``train_step``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    uses_protected: ClassVar[bool] = False  # does training read the protected labels?
    Options: ClassVar[type[MethodOptions]] = MethodOptions
    #: trainer settings a run of this method gets unless the user sets them (the paper's)
    train_defaults: ClassVar[dict[str, Any]] = {}
    #: state_dict key prefixes of parts a trained run does not have (an adversary), which
    #: start fresh when ``mitigate`` initialises the model from that run
    fresh_on_init: ClassVar[tuple[str, ...]] = ()
    #: under torchrun, may BatchNorm synchronise across ranks? Every forward in training mode
    #: is then a collective, so a step must run the same forwards on every rank; a method
    #: whose extra forwards depend on its shard of the batch says False (per-rank statistics)
    sync_bn: ClassVar[bool] = True

    def __init__(self, options: MethodOptions | None = None):
        self.options = options if options is not None else self.Options()

    def build_model(self, cfg: TrainConfig, task: Task) -> nn.Module:
        """The model this method trains; by default the shared-backbone classifier."""
        return build_model(cfg.arch, n_groups=task.n_groups)

    def setup(self, model: nn.Module, run: RunSetup) -> None:
        """Build state the method needs before its first step (ASAC: the frozen classifier C)."""

    def state_dict(self) -> dict[str, Any]:
        """Method state saved in checkpoints so that ``--resume`` need not rebuild it."""
        return {}

    def load_state_dict(self, state: dict[str, Any], model: nn.Module, run: RunSetup) -> None:
        """Restore what :meth:`state_dict` saved (instead of calling :meth:`setup`)."""

    def sample_weights(self, run: RunSetup) -> np.ndarray | None:
        """Per-image sampling weights of the train split (``run.train_ds`` order), or None for
        a plain shuffle. With weights, each epoch draws n images with replacement in
        proportion to them, seeded by (seed, epoch) so that ``--resume`` replays it exactly."""
        return None

    def param_groups(self, model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
        """Optimizer parameter groups; by default one group at the configured learning rate."""
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]

    @abstractmethod
    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        """One training iteration; returns scalars to log (at least ``loss``)."""

    def predict_logits(self, model: nn.Module, x: torch.Tensor, group: torch.Tensor | None = None) -> torch.Tensor:
        """Target logits for evaluation (N, 2). ``group`` (the protected labels) is given for
        inference rules that condition on it (domain-independent 'conditional'); others ignore it."""
        return model(x)

    def decide(self, logits: torch.Tensor, group: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor:
        """Hard predictions from the logits; the argmax unless a rule needs more (post-processing's
        group thresholds read the group, and its randomised decisions the image's index)."""
        return logits.argmax(1)


_REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make a method available by its ``name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"method name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def registered() -> dict[str, type[Method]]:
    return dict(_REGISTRY)


def apply_train_defaults(cfg: TrainConfig, method: str) -> None:
    """Put a method's paper settings (``train_defaults``) into ``cfg``, below the caller's own
    options, which are applied after this."""
    for name, value in (getattr(_REGISTRY.get(method), "train_defaults", None) or {}).items():
        setattr(cfg, name, value)


def get_method(name: str, options: dict[str, Any] | None = None) -> Method:
    """A registered method with its options parsed and type-checked.

    Parameters
    ----------
    name
        a registered method (``facefair methods``).
    options
        its options by name (``facefair methods NAME`` lists them and their paper defaults);
        text values are read as their declared types.
    """
    if name not in _REGISTRY:
        raise unknown_name("method", name, _REGISTRY)
    cls = _REGISTRY[name]
    return cls(cls.Options.parse(options or {}))

