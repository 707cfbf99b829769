"""Shared by the benchmark scripts: write a JSON result and regenerate docs/BENCHMARKS.md."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

DOCS = Path(__file__).resolve().parents[1] / "docs"
RESULTS = DOCS / "benchmarks"


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
            "date": time.strftime("%Y-%m-%d")}


def write_result(name: str, result: dict[str, Any], row: str) -> Path:
    """Save ``result`` as docs/benchmarks/NAME.json (with its table row) and rebuild the table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({**result, "machine": machine(), "row": row}, indent=2) + "\n")
    rows = [json.loads(p.read_text())["row"] for p in sorted(RESULTS.glob("*.json"))]
    (DOCS / "BENCHMARKS.md").write_text(
        "# Benchmarks\n\nWritten by the scripts in `benchmarks/` (one JSON each in `docs/benchmarks/`). "
        "On a shared, noisy machine a speed figure is only meaningful as a ratio measured within one run, "
        "so each row compares two things measured interleaved in the same process.\n\n"
        "| benchmark | setting | result | ratio |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
    return path
