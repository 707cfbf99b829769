"""Shared fixtures (helpers live in helpers.py, importable because pytest puts tests/ on the path)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_celeba


@pytest.fixture
def celeba_dir(tmp_path: Path) -> Path:
    return write_celeba(tmp_path / "celeba", n=12)
