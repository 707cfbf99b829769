"""The resolved configuration of a training run, saved as ``config.json`` in the run folder.

One dataclass serves the CLI, the Python API and ``--resume`` (which reloads it), so a run
folder always says exactly how it was made.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_json
from .errors import ConfigError
from .options import check_options

#: Validation metrics that may pick the best epoch (higher is better), or the last epoch.
SELECTABLE = ("accuracy", "worst_group_accuracy", "tpr", "worst_group_tpr", "last")


@dataclass
class TrainConfig:
    """Everything that determines a training run (defaults: a quick CPU run)."""

    dataset: str = "synthetic"
    target: str = "smile"
    protected: str = "group"
    root: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    method: str = "erm"
    method_options: dict[str, Any] = field(default_factory=dict)
    arch: str = "tiny"
    weights: str | None = None  # a local file of backbone weights
    pretrained: str | None = None  # published weights: "imagenet" (or a torchvision enum name)
    #: what the backbone started from (name, file, sha256), filled in when training starts
    weights_used: dict[str, Any] | None = None
    backbone_lr_mult: float = 1.0  # the backbone's learning rate = this x the group's (fine-tuning)
    freeze_stages: int = 0  # the first N backbone stages stay as loaded (weights and BN statistics)
    init: str | None = None  # a run folder (its best.pt) or a .pt: start from these weights
    size: int = 48
    epochs: int = 5
    batch_size: int = 64
    eval_batch_size: int = 256
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    clip: float | None = 1.0
    schedule: str = "cosine"
    bf16: bool = False
    fp16: bool = False  # fp16 autocast with a gradient scaler (CUDA); bf16 needs none
    sync_bn: bool = True  # under torchrun: BatchNorm statistics over the global batch
    channels_last: bool = False
    flip: bool = True
    seed: int = 0
    split_seed: int = 0
    max_train: int | None = None
    max_val: int | None = None
    select: str = "accuracy"
    patience: int | None = None  # early stopping: end after this many epochs without a better --select
    cache: str | None = "auto"
    workers: int = 0
    threads: int | None = None
    device: str = "auto"
    checkpoint_every: int = 0
    progress: bool = True

    def validate(self) -> None:
        """Reject impossible values early, with the option's name."""
        if self.size < 16:
            raise ConfigError(f"--size must be at least 16 px, got {self.size}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.lr <= 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ConfigError(f"--optimizer must be adam, adamw or sgd, got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"--schedule must be cosine or constant, got {self.schedule!r}")
        if self.select not in SELECTABLE:
            raise ConfigError(f"--select must be one of {', '.join(SELECTABLE)}, got {self.select!r}")
        if self.bf16 and self.fp16:
            raise ConfigError("--bf16 and --fp16 exclude each other; pick one autocast type")
        if self.backbone_lr_mult < 0:
            raise ConfigError(f"--backbone-lr-mult must not be negative, got {self.backbone_lr_mult}")
        if self.freeze_stages < 0:
            raise ConfigError(f"--freeze-stages must not be negative, got {self.freeze_stages}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"--patience must be at least 1, got {self.patience}")
        if self.weights and self.pretrained:
            raise ConfigError("--weights and --pretrained exclude each other; pick one starting point")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"--device must be auto, cpu or cuda[:N], got {self.device!r}")

    def override(self, options: dict[str, Any], where: str = "") -> None:
        """Set trainer options by name (None leaves one as it is), each checked against its
        declared type; an unknown name or a value of another type is an error."""
        given = {k: v for k, v in options.items() if v is not None}
        for k, v in check_options(type(self), given, where).items():
            setattr(self, k, v)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**d)

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict(), sort_keys=True)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        if not path.is_file():
            raise ConfigError(f"{path}: no config.json; is this a facefair run folder?")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: corrupt config: {e}") from None
