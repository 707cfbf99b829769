"""Shared fixtures (helpers live in helpers.py, importable because pytest puts tests/ on the path)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import write_celeba

# Ray, where a test starts it, listens on 127.0.0.1 only (read when ray is imported: set first)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture
def celeba_dir(tmp_path: Path) -> Path:
    return write_celeba(tmp_path / "celeba", n=12)


@pytest.fixture(autouse=True, scope="session")
def _auto_precision_is_fp32() -> Iterator[None]:
    """In-process, --precision auto resolves to fp32 as on a CPU without native bf16: the tests
    compare steps with fp32 references and must answer alike on CI machines with and without
    AVX512-BF16 (session-wide, so module fixtures that train see it too).
    tests/training/test_precision.py sets the hardware it tests."""
    import facefair.devices

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(facefair.devices, "native_bf16", lambda device: False)
        yield
