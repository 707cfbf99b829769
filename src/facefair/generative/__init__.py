"""Face generators for the generative comparison methods: facefair's own DCGAN and encoder,
trained on a dataset's training split, or a user's TorchScript generator (:mod:`.model`
states the interface). Names load lazily, so the CLI can read :class:`GeneratorConfig`
without torch."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "GeneratorConfig": "facefair.generative.config",
    "FaceGenerator": "facefair.generative.model",
    "load_generator": "facefair.generative.model",
    "train_generator": "facefair.generative.training",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'facefair.generative' has no attribute {name!r}")
