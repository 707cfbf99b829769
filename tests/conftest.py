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


@pytest.fixture(autouse=True, scope="session")
def _fixed_threads_however_busy_the_machine() -> Iterator[None]:
    """Trainings in the test process keep one thread per usable core however busy the machine
    is. The exact-resume tests compare weights bitwise, and a thread count that follows other
    processes' load changes the order of torch's sums: 13 of them failed on a 2-core machine
    with background trainings running (2026-12-07). The governor's adaptation has its own tests
    with injected readings (tests/training/test_threads.py, which imported busy_seconds itself)."""
    import facefair.threads

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(facefair.threads, "busy_seconds", lambda cpus=None: None)
        yield
