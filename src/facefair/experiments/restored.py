"""What a run folder rebuilt from an experiment's archive keeps of it (``restored.json``), and
the validation metrics a choice reads from a run, trained or restored. The plan reads these
and the archive writes them; neither module needs the other for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..runfolder import RunFolder, best_validation

#: what a restored run folder (or choice row) keeps of its archive
RESTORED = RunFolder.RESTORED


def read_restored(folder: Path) -> dict[str, Any] | None:
    """The record a restored run folder (or choice row) keeps of its archive, or None."""
    path = folder / RESTORED
    if not path.is_file():
        return None
    try:
        kept = json.loads(path.read_text())
    except ValueError:
        raise DataError(f"{path}: not JSON (remove the folder and restore again)") from None
    if not isinstance(kept, dict) or "archive" not in kept:
        raise DataError(f"{path}: no 'archive' key (remove the folder and restore again)")
    return kept


def finished(folder: Path) -> str | None:
    """'restored' (from an archive) or 'done' (trained and evaluated) where a run folder holds
    its metrics, else None."""
    if not RunFolder(folder).is_evaluated():
        return None
    return "restored" if read_restored(folder) is not None else "done"


def run_validation(folder: Path) -> dict[str, Any]:
    """The validation metrics of a run's selected epoch: its log's, or for a restored run the
    archive's copy (a choice reads these; the test split never takes part)."""
    kept = read_restored(folder)
    if kept is None:
        return best_validation(folder)
    if not kept.get("validation"):
        raise DataError(f"{folder / RESTORED}: the archive {kept['archive']} kept no validation metrics for "
                        "this run (written before archives kept them), so no choice can read them")
    return dict(kept["validation"])
