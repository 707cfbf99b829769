"""Read and write predictions CSVs (id, y, group, score, pred) without torch.

The file is the hand-off between a model and an audit: ``facefair evaluate`` writes it, and
``facefair metrics`` (or any other tool) recomputes every metric from it later.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..csvfile import read_csv
from ..errors import DataError, unknown_name

PREDICTION_COLUMNS = ("id", "y", "group", "score", "pred")


@dataclass
class Predictions:
    """Hard predictions with labels and protected groups, one row per image."""

    y: np.ndarray
    pred: np.ndarray
    group: np.ndarray
    score: np.ndarray | None = None
    ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)


def _parse_binary(text: str, column: str, path: Path, line: int) -> int:
    t = text.strip()
    if t in ("0", "1"):
        return int(t)
    if t.lower() in ("true", "false"):
        return int(t.lower() == "true")
    try:
        v = float(t)
    except ValueError:
        raise DataError(f"column '{column}' must be 0 or 1, got {text!r}", path, line) from None
    if v not in (0.0, 1.0):
        raise DataError(f"column '{column}' must be 0 or 1, got {text!r}", path, line)
    return int(v)


def read_predictions(path: str | os.PathLike[str], group_cols: list[str] | None = None,
                     sep: str = "|") -> Predictions:
    """Parse a predictions CSV (columns y, pred, the group columns, optional score and id).

    Errors name the file and the 1-based line; no row is skipped silently.

    Parameters
    ----------
    path: the CSV file.
    group_cols: group columns (default ``['group']``); several are intersected.
    sep: the separator joining intersected labels.
    """
    p = Path(path)
    group_cols = group_cols or ["group"]
    header, table = read_csv(p, "predictions file")
    for col in ["y", "pred", *group_cols]:
        if col not in header:
            raise unknown_name("column", col, header, where=f"{p}, line 1")
    idx = {c: header.index(c) for c in header}
    has_score, has_id = "score" in idx, "id" in idx
    ys, preds, groups, scores, ids = [], [], [], [], []
    seen: dict[str, int] = {}
    for line, row in table:
        ys.append(_parse_binary(row[idx["y"]], "y", p, line))
        preds.append(_parse_binary(row[idx["pred"]], "pred", p, line))
        groups.append(sep.join(row[idx[c]] for c in group_cols))
        if has_score:
            s = row[idx["score"]]
            try:
                scores.append(float(s) if s else float("nan"))
            except ValueError:
                raise DataError(f"column 'score' must be a number, got {s!r}", p, line) from None
        if has_id:
            if row[idx["id"]] in seen:
                raise DataError(f"duplicate id {row[idx['id']]!r} (first on line {seen[row[idx['id']]]})",
                                p, line)
            seen[row[idx["id"]]] = line
            ids.append(row[idx["id"]])
    if not ys:
        raise DataError("no prediction rows after the header", p)
    return Predictions(
        y=np.asarray(ys, dtype=np.int64),
        pred=np.asarray(preds, dtype=np.int64),
        group=np.asarray(groups),
        score=np.asarray(scores, dtype=np.float64) if has_score else None,
        ids=np.asarray(ids) if has_id else None,
    )


def write_predictions(path: str | os.PathLike[str], ids: list[str] | np.ndarray, y: np.ndarray,
                      group: np.ndarray, score: np.ndarray, pred: np.ndarray) -> None:
    """Write the predictions CSV atomically (temporary file, then rename).

    Scores are written as the shortest text that reads back to the same float (float32 stays
    float32, anything else float64), not to a fixed number of decimals: a confident model's
    scores sit below 1e-6, and rounding them to 0.000000 turns them into ties that change the
    ROC AUC that ``facefair metrics`` computes from this file.
    """
    p = Path(path)
    scores = np.asarray(score)
    if scores.dtype != np.float32:
        scores = scores.astype(np.float64)
    with atomic_open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(PREDICTION_COLUMNS)
        for row in zip(ids, y, group, scores, pred):
            w.writerow([row[0], int(row[1]), row[2], str(row[3]), int(row[4])])
