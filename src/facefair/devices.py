"""Where and in what precision a run computes: the device a config names, and its autocast."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from .config import TrainConfig
from .errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU: on an AVX2-only CPU (an AMD EPYC here)
    bf16 autocast trained ResNet-18 at 7 img/s against fp32's 69; where it is native, 1.4x fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # an internal check; without it, assume yes (no warning)
        return True


def autocast(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The run's autocast: bf16, fp16 or none."""
    if cfg.bf16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if cfg.fp16:
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()
