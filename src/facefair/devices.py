"""Where and in what precision a run computes: the device a config names, and its autocast."""

from __future__ import annotations

import contextlib
import os
import platform
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


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (a CUDA GPU of compute capability 8 or more;
    a CPU with AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    return device.type == "cpu" and cpu_has_native_bf16()


#: backbones that train faster in fp32 than in bf16 even on a CPU with native bf16: an AVX512-BF16
#: EPYC trained EfficientNet-Lite0 (96 px, batch 64, channels_last) at 107 img/s in fp32 and 81 in
#: bf16, its depthwise convolutions and BatchNorm/ReLU6 passes gaining nothing from bf16
#: (benchmarks/peak_fraction.py), where ResNet-18 went from 173 to 280 img/s
FP32_ON_CPU = ("efficientnet_lite",)


def describe_machine(device: torch.device) -> str:
    """The processor a run computes on, for the record beside its figures (fp32 results moved
    slightly between CPUs): the GPU's name, or the CPU's model name with its cores and whether
    it has native bf16 (an AVX512-BF16 EPYC and an AVX2-only one differ 4x in bf16 speed)."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    flags = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return f"{model}, {os.cpu_count()} cores, {flags}, torch {torch.__version__}"


def resolve_precision(cfg: TrainConfig, device: torch.device) -> tuple[str, str]:
    """The precision a run computes in (bf16, fp16 or fp32) and why: an explicit choice as
    given; ``auto`` bf16 only where ``device`` computes it natively (emulated, it trained
    ResNet-18 4x slower than fp32 on an AVX2-only EPYC)."""
    asked = cfg.requested_precision()
    if asked != "auto":
        return asked, "asked for"
    if native_bf16(device):
        if device.type == "cpu" and cfg.arch.startswith(FP32_ON_CPU):
            return "fp32", (f"auto: {cfg.arch}'s depthwise convolutions train faster in fp32 on a CPU "
                            "(Lite0 at 96 px: 107 against 81 img/s in bf16)")
        return "bf16", f"auto: {device.type} computes bf16 natively"
    return "fp32", f"auto: {device.type} has no native bf16, it would be emulated"


def autocast(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The run's autocast: bf16, fp16 or none (fp32)."""
    precision, _ = resolve_precision(cfg, device)
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "fp16":
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()
