"""Atomic checkpoint writes and safe loads.

A checkpoint is a plain dict of tensors and numbers written to a temporary file, flushed and
renamed over the old one, so a kill at any moment leaves either the old or the new file,
never half of one. Loading uses ``weights_only=True``: a checkpoint can never execute code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_open
from .errors import DataError

#: what a resumable ``last.pt`` holds
CKPT_KEYS = ("model", "optimizer", "epoch", "step_in_epoch", "global_step", "rng", "history", "best", "accum")


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` via a temporary file and an atomic rename."""
    with atomic_open(path, "wb") as fh:
        torch.save(obj, fh)


def load_checkpoint(path: str | Path, expect: tuple[str, ...] = ()) -> dict[str, Any]:
    """Load a checkpoint dict safely; a truncated or foreign file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise DataError("checkpoint not found", path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated zip, pickle with code, wrong format
        why = (str(e).splitlines() or [type(e).__name__])[0][:200]  # an empty file's error has no text
        raise DataError(f"not a readable facefair checkpoint (truncated, empty or foreign?): {why}", path) from None
    if not isinstance(obj, dict) or any(k not in obj for k in expect):
        raise DataError(f"not a facefair checkpoint: expected keys {', '.join(expect)}", path)
    return obj


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """A weights file someone else wrote (a state_dict, or a dict holding one under
    ``state_dict``), loaded with ``weights_only=True``; a missing or unreadable file is a
    clear error naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError("weights file not found", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise DataError(f"not a loadable state_dict: {(str(e).splitlines() or [type(e).__name__])[0][:200]}",
                        path) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DataError("expected a state_dict (a mapping of tensor names)", path)
    return state

