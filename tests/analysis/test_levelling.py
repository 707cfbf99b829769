"""Comparing a method with its base: levelling verdicts on known cases, collapse, and the
paired intervals (seeds: a t interval; single runs: a paired bootstrap on the same images)."""

from __future__ import annotations

import numpy as np
import pytest

from facefair.analysis.comparison import collapse, compare, paired_bootstrap, paired_seeds
from facefair.metrics import fairness_report


def doc(**rates: tuple[float, float]) -> dict:
    """A metrics document of two groups a, b; ``rates``: name -> (a's, b's)."""
    groups = [{"group": g, "n": 100, **{k: v[i] for k, v in rates.items()}} for i, g in enumerate("ab")]
    for r in groups:
        r.setdefault("selection_rate", 0.5)
    acc = float(np.mean([r.get("accuracy", 0.8) for r in groups]))
    return {"metrics": {"accuracy": acc}, "groups": groups}


@pytest.mark.parametrize(("after", "verdict"), [
    ((0.70, 0.60), "levelling down"),      # the better group lost TPR, the worse stayed
    ((0.90, 0.85), "levelling up"),        # the worse group gained
    ((0.80, 0.75), "closed by both"),      # both moved towards each other
    ((0.95, 0.55), "widened"),
    ((0.901, 0.601), "unchanged"),
])
def test_tpr_gap_verdicts(after: tuple[float, float], verdict: str) -> None:
    c = compare([doc(tpr=(0.90, 0.60))], [doc(tpr=after)], "m", "b")
    v = c.verdict("tpr")
    assert v is not None and verdict in v.verdict
    assert v.better_group == "a" and v.worse_group == "b"
    assert v.before == pytest.approx(0.30) and v.after == pytest.approx(abs(after[0] - after[1]))


def test_fpr_is_better_when_lower() -> None:
    base = doc(fpr=(0.10, 0.30))  # b has the worse (higher) FPR
    down = compare([base], [doc(fpr=(0.28, 0.30))]).verdict("fpr")
    up = compare([base], [doc(fpr=(0.10, 0.12))]).verdict("fpr")
    assert down is not None and up is not None
    assert down.worse_group == "b" and "levelling down" in down.verdict  # a's FPR rose to b's
    assert "levelling up" in up.verdict


def test_seeds_are_averaged_before_comparing() -> None:
    c = compare([doc(tpr=(0.9, 0.5)), doc(tpr=(0.9, 0.7))], [doc(tpr=(0.9, 0.8)), doc(tpr=(0.9, 0.8))])
    v = c.verdict("tpr")
    assert v is not None and v.before == pytest.approx(0.3) and v.worse_change == pytest.approx(0.2)
    assert "levelling up" in c.headline()


def test_collapse_to_a_constant_or_the_group() -> None:
    assert "negative class for (almost) everyone" in collapse([{"group": "a", "selection_rate": 0.0},
                                                               {"group": "b", "selection_rate": 0.01}])
    assert "predicts the group: positive for b" in collapse([{"group": "a", "selection_rate": 0.0},
                                                             {"group": "b", "selection_rate": 1.0}])
    assert collapse([{"group": "a", "selection_rate": 0.3}, {"group": "b", "selection_rate": 1.0}]) is None
    c = compare([doc(tpr=(0.9, 0.6))], [doc(tpr=(1.0, 0.0), selection_rate=(1.0, 0.0))])
    assert c.collapse and "COLLAPSED" in c.headline()


def test_paired_seeds_known_interval() -> None:
    d = paired_seeds("accuracy", [0.80, 0.80, 0.80], [0.81, 0.82, 0.83])
    assert d.mean == pytest.approx(0.02)
    # sd 0.01, n 3: half-width t(0.975, 2) * 0.01 / sqrt(3) = 4.3027 * 0.005774
    assert d.high - d.mean == pytest.approx(4.302653 * 0.01 / 3 ** 0.5, rel=1e-5)
    # three seeds, each better, yet within noise: t(2) is 4.3
    assert d.same_sign and not d.beyond_noise and d.low < 0
    tight = paired_seeds("accuracy", [0.80, 0.80, 0.80], [0.81, 0.815, 0.82])
    assert tight.beyond_noise and tight.same_sign
    mixed = paired_seeds("accuracy", [0.8, 0.8, 0.8], [0.82, 0.79, 0.81])
    assert not mixed.same_sign and not mixed.beyond_noise
    with pytest.raises(Exception, match="pair them by seed"):
        paired_seeds("accuracy", [0.8], [0.8, 0.9])


def test_paired_bootstrap_matches_the_point_difference_and_is_tighter_than_unpaired() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    g = rng.integers(0, 2, n)
    y = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.8, y, 1 - y)
    method = base.copy()
    flip = rng.random(n) < 0.03  # the method changes 3% of decisions
    method[flip] = 1 - method[flip]
    d = paired_bootstrap("accuracy", y, g, base, method, n_boot=400)
    point = (fairness_report(y, method, g).overall["accuracy"] - fairness_report(y, base, g).overall["accuracy"])
    assert d.mean == pytest.approx(point)
    assert d.low <= point <= d.high
    rb = fairness_report(y, base, g, n_boot=400).ci["accuracy"]
    assert (d.high - d.low) < 0.5 * (rb[1] - rb[0])  # the images' difficulty cancels in the pair
    same = paired_bootstrap("equalized_odds_mean", y, g, base, base, n_boot=100)
    assert same.mean == 0 and same.low == 0 and same.high == 0 and not same.beyond_noise


def test_no_gap_verdict_where_the_documents_call_the_rate_gaps_undefined() -> None:
    """Gender within race x gender: every group holds one class, the evaluation leaves the rate
    gaps out (None), so a comparison must not narrate TPR/FPR/selection-rate gaps either."""
    def undefined(**rates: tuple[float, float]) -> dict:
        d = doc(**rates)
        d["metrics"].update(equal_opportunity_diff=None, demographic_parity_diff=None)
        return d
    c = compare([undefined(tpr=(0.9, 0.6))], [undefined(tpr=(0.9, 0.9))])
    assert c.gaps == [] and "levelling" not in c.headline()
    assert compare([doc(tpr=(0.9, 0.6))], [doc(tpr=(0.9, 0.9))]).verdict("tpr") is not None
