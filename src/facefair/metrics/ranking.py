"""Threshold-free ranking quality: ROC AUC of the scores, overall and per group.

Why: every SPEC metric reads hard predictions, so a model whose scores shifted below the
threshold (a calibration drift that a validation-chosen threshold would undo) and a model
that lost the target (scores no better than chance) both show up as "predicts one class,
gaps 0". The AUC tells them apart: it reads only the order of the scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .groups import group_codes


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank (as the Mann-Whitney U statistic needs)."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    # a run of equal values starts where the sorted value changes
    new_run = np.r_[True, sorted_vals[1:] != sorted_vals[:-1]]
    starts = np.flatnonzero(new_run)
    run = np.cumsum(new_run) - 1  # the run each sorted position belongs to
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = mean_rank[run]
    return ranks


def roc_auc(y: Sequence[Any] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counting one half;
    NaN when ``y`` holds only one class or a score is missing (the AUC is undefined there)."""
    y = np.asarray(y).astype(np.int64)
    s = np.asarray(score, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"y has {y.shape} values but score has {s.shape}")
    if np.isnan(s).any():
        return float("nan")  # a missing score has no place in the order
    n_pos = int((y == 1).sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(s)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def group_auc(y: Sequence[Any] | np.ndarray, score: Sequence[float] | np.ndarray,
              group: Sequence[Any] | np.ndarray) -> dict[str, float]:
    """ROC AUC within each protected group (keys are the group labels as strings)."""
    y, s = np.asarray(y), np.asarray(score, dtype=np.float64)
    codes, names = group_codes(group, "group")
    return {name: roc_auc(y[codes == k], s[codes == k]) for k, name in enumerate(names)}
