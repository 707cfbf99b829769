"""Read and write predictions CSVs (id, y, group, score, pred) without torch.

The file is the hand-off between a model and an audit: ``facefair evaluate`` writes it, and
``facefair metrics`` (or any other tool) recomputes every metric from it later.
"""

from __future__ import annotations

import csv
import math
import os
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..csvfile import open_csv
from ..errors import DataError, unknown_name
from .groups import GroupLabels

PREDICTION_COLUMNS = ("id", "y", "group", "score", "pred")


@dataclass
class Predictions:
    """Hard predictions with labels and protected groups, one row per image. Held compactly
    (int8 labels, group codes, float64 scores), so a file of 10^8 rows fits in memory."""

    y: np.ndarray
    pred: np.ndarray
    group: GroupLabels | np.ndarray
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
                     sep: str = "|", keep_ids: bool = False) -> Predictions:
    """Parse a predictions CSV (columns y, pred, the group columns, optional score and id),
    reading it row by row into compact arrays: about 22 bytes a row, whatever the file's size.

    Errors name the file and the 1-based line; no row is skipped silently (a duplicate id
    too: ids are checked by their hashes, then confirmed by a second read).

    Parameters
    ----------
    path
        the CSV file.
    group_cols
        group columns (default ``['group']``); several are intersected.
    sep
        the separator joining intersected labels.
    keep_ids
        also return the ids (as text; off: a large file's ids would not fit in memory).
    """
    p = Path(path)
    group_cols = group_cols or ["group"]
    ys, preds, codes, scores, hashes = array("b"), array("b"), array("i"), array("d"), array("q")
    names: dict[str, int] = {}
    kept: list[str] = []
    with open_csv(p, "predictions file") as (header, table):
        for col in ["y", "pred", *group_cols]:
            if col not in header:
                raise unknown_name("column", col, header, where=f"{p}, line 1")
        iy, ip, ig = header.index("y"), header.index("pred"), [header.index(c) for c in group_cols]
        i_score = header.index("score") if "score" in header else None
        i_id = header.index("id") if "id" in header else None
        one = len(ig) == 1
        for line, row in table:
            t = row[iy]
            ys.append(1 if t == "1" else 0 if t == "0" else _parse_binary(t, "y", p, line))
            t = row[ip]
            preds.append(1 if t == "1" else 0 if t == "0" else _parse_binary(t, "pred", p, line))
            label = row[ig[0]] if one else sep.join(row[i] for i in ig)
            code = names.get(label)
            if code is None:
                code = names[label] = len(names)
            codes.append(code)
            if i_score is not None:
                t = row[i_score]
                try:
                    scores.append(float(t) if t else math.nan)
                except ValueError:
                    raise DataError(f"column 'score' must be a number, got {t!r}", p, line) from None
            if i_id is not None:
                hashes.append(hash(row[i_id]))
                if keep_ids:
                    kept.append(row[i_id])
    if not ys:
        raise DataError("no prediction rows after the header", p)
    if i_id is not None:
        _no_duplicate_ids(p, np.frombuffer(hashes, dtype=np.int64), i_id)
    order = sorted(names)  # codes into the sorted names, as fairness_report names groups
    remap = np.empty(len(names), dtype=np.int32)
    for new, name in enumerate(order):
        remap[names[name]] = new
    return Predictions(
        y=np.frombuffer(ys, dtype=np.int8),
        pred=np.frombuffer(preds, dtype=np.int8),
        group=GroupLabels(remap[np.frombuffer(codes, dtype=np.int32)], order),
        score=np.frombuffer(scores, dtype=np.float64) if i_score is not None else None,
        ids=np.asarray(kept) if keep_ids and i_id is not None else None,
    )


def _no_duplicate_ids(path: Path, hashes: np.ndarray, column: int) -> None:
    """Refuse a repeated id, naming both lines. Equal hashes are confirmed on the text by a
    second read of only the rows that share one (none, in a file without duplicates)."""
    sorted_h = np.sort(hashes)
    shared = set(sorted_h[1:][sorted_h[1:] == sorted_h[:-1]].tolist())
    if not shared:
        return
    first: dict[str, int] = {}
    with open_csv(path, "predictions file") as (_, table):
        for line, row in table:
            if hash(row[column]) in shared:
                if row[column] in first:
                    raise DataError(f"duplicate id {row[column]!r} (first on line {first[row[column]]})", path, line)
                first[row[column]] = line


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
