"""ROC AUC of the scores: cross-checked against scikit-learn, ties and edge cases included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from facefair.metrics import fairness_report, group_auc, roc_auc


def test_known_answers() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts one half
    # one of the 4 (positive, negative) pairs is ordered wrongly
    assert roc_auc([0, 1, 0, 1], [0.1, 0.3, 0.4, 0.9]) == 0.75


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.random(500) * 0.5 + 0.3 * y, 2)  # rounding makes many ties
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_undefined_cases_are_nan() -> None:
    assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(roc_auc([0, 1], [0.1, float("nan")]))
    with pytest.raises(ValueError, match="score"):
        roc_auc([0, 1, 1], [0.1, 0.2])


def test_per_group_and_in_report() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    group = np.where(rng.random(400) < 0.4, "a", "b")
    score = rng.random(400) + 0.5 * y * (group == "a")  # group a's scores rank, b's do not
    per = group_auc(y, score, group)
    for g in ("a", "b"):
        assert per[g] == pytest.approx(roc_auc_score(y[group == g], score[group == g]))
    assert per["a"] > 0.7 and abs(per["b"] - 0.5) < 0.1

    report = fairness_report(y, (score > 0.5).astype(int), group, score=score)
    assert report.overall["auc"] == pytest.approx(roc_auc_score(y, score))
    assert {r["group"]: r["auc"] for r in report.groups} == pytest.approx(per)
    assert "auc" in report.format_table() and report.to_dict()["metrics"]["auc"] is not None
    assert "auc" not in fairness_report(y, (score > 0.5).astype(int), group).overall


def test_one_class_warning_says_whether_scores_still_rank() -> None:
    """A model predicting "no" everywhere: the warning gives the AUC, which separates a
    threshold shift (scores still rank) from a model that lost the target."""
    y = np.array([0, 0, 1, 1, 0, 1])
    group = np.array(["a", "a", "a", "b", "b", "b"])
    shifted = np.array([0.01, 0.02, 0.3, 0.4, 0.03, 0.35])  # all below 0.5, perfectly ordered
    rep = fairness_report(y, np.zeros(6, dtype=int), group, score=shifted)
    assert rep.overall["auc"] == 1.0
    assert any("every prediction is negative" in w and "ROC AUC is 1.000" in w for w in rep.warnings)

    missing = fairness_report(y, np.zeros(6, dtype=int), group, score=[0.1] * 5 + [float("nan")])
    assert "auc" not in missing.overall
    assert any("scores are missing" in w for w in missing.warnings)
