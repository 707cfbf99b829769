"""Post-processing (Hardt et al. 2016): exact group thresholds, checked against Fairlearn's
ThresholdOptimizer, and the run folder it writes read back by evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facefair import TrainConfig, evaluate, train
from facefair.cli import main
from facefair.errors import ConfigError
from facefair.methods.postprocess import CONSTRAINTS, coins, decide, fit_thresholds
from facefair.metrics import read_predictions
from facefair.mitigation import postprocess

FAIRLEARN = {"equalized_odds": "equalized_odds", "equal_opportunity": "true_positive_rate_parity",
             "demographic_parity": "demographic_parity"}


def biased_scores(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores that rank well in group 0 and worse, shifted up, in group 1."""
    rng = np.random.default_rng(seed)
    g = (rng.random(n) < 0.35).astype(np.int64)
    y = (rng.random(n) < np.where(g == 1, 0.3, 0.55)).astype(np.int64)
    logit = np.where(g == 1, 1.0 * (2 * y - 1) + 0.8, 2.0 * (2 * y - 1)) + rng.normal(0, 1, n)
    return np.round(1 / (1 + np.exp(-logit)), 3), y, g  # rounding makes ties, as real scores have


def expected_rates(p: np.ndarray, y: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
    groups = np.unique(g)
    return {"tpr": np.array([p[(g == k) & (y == 1)].mean() for k in groups]),
            "fpr": np.array([p[(g == k) & (y == 0)].mean() for k in groups]),
            "sr": np.array([p[g == k].mean() for k in groups])}


def score_estimator():
    """A prefit sklearn estimator whose prediction is the score column (Fairlearn thresholds it)."""
    from sklearn.base import BaseEstimator

    class Scores(BaseEstimator):
        def fit(self, X, y):
            self.fitted_ = True
            return self

        def predict(self, X):
            return np.asarray(X)[:, 0]

    return Scores().fit(None, None)


@pytest.mark.parametrize("constraint", CONSTRAINTS)
def test_exact_thresholds_match_or_beat_fairlearn_and_hold_the_constraint(constraint: str) -> None:
    fairlearn = pytest.importorskip("fairlearn.postprocessing")
    s, y, g = biased_scores()
    fit = fit_thresholds(s, y, g, constraint, ["a", "b"])
    p = np.zeros(len(s))
    for k, rule in enumerate(fit.rules):
        p[g == k] = rule.positive_probability(s[g == k])
    ours = float(np.mean(p * y + (1 - p) * (1 - y)))
    assert ours == pytest.approx(fit.expected_accuracy, abs=1e-9)
    rates = expected_rates(p, y, g)
    equal = {"equalized_odds": ("tpr", "fpr"), "equal_opportunity": ("tpr",), "demographic_parity": ("sr",)}
    for r in equal[constraint]:
        assert abs(rates[r][0] - rates[r][1]) < 1e-7, (r, rates[r])
    opt = fairlearn.ThresholdOptimizer(estimator=score_estimator(), constraints=FAIRLEARN[constraint], prefit=True,
                                       predict_method="predict", objective="accuracy_score")
    opt.fit(s[:, None], y, sensitive_features=g)
    q = opt._pmf_predict(s[:, None], sensitive_features=g)[:, 1]
    theirs = float(np.mean(q * y + (1 - q) * (1 - y)))
    # the exact optimum is never below the grid's, and the grid is close to it
    assert theirs - 1e-9 <= ours <= theirs + 0.01
    # and the unconstrained accuracy is an upper bound the constraint costs against
    best_free = max(np.mean((s >= t) == y) for t in np.unique(s))
    assert ours <= best_free + 1e-9


def test_separable_groups_need_no_randomness_and_lose_nothing() -> None:
    y = np.array([0, 0, 1, 1, 0, 1, 1, 1])
    g = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])  # group 1 shifted up: one global cut fails
    fit = fit_thresholds(s, y, g, "equalized_odds", ["a", "b"])
    assert fit.expected_accuracy == pytest.approx(1.0)
    assert [r.thresholds for r in fit.rules] == [[0.3], [0.7]]
    assert [r.weights for r in fit.rules] == [[1.0], [1.0]]
    np.testing.assert_array_equal(decide(fit.rules, s, g, np.arange(8), seed=0), y)


def test_decisions_are_randomised_per_image_not_per_order() -> None:
    s, y, g = biased_scores(2000, seed=1)
    fit = fit_thresholds(s, y, g, "equalized_odds", ["a", "b"])
    assert any(len(r.weights) > 1 for r in fit.rules)  # this case needs a coin
    idx = np.arange(len(s))
    a = decide(fit.rules, s, g, idx, seed=3)
    perm = np.random.default_rng(0).permutation(len(s))
    b = decide(fit.rules, s[perm], g[perm], idx[perm], seed=3)
    np.testing.assert_array_equal(a[perm], b)
    assert not np.array_equal(a, decide(fit.rules, s, g, idx, seed=4))
    u = coins(np.arange(200_000), seed=0)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005


def test_groups_without_positives_or_a_single_group_are_refused() -> None:
    y, s = np.array([0, 1, 0, 0]), np.array([0.2, 0.8, 0.3, 0.1])
    with pytest.raises(ConfigError, match="group 'b' has no positive validation images"):
        fit_thresholds(s, y, np.array([0, 0, 1, 1]), "equal_opportunity", ["a", "b"])
    with pytest.raises(ConfigError, match="one protected group"):
        fit_thresholds(s, y, np.zeros(4, dtype=int), "demographic_parity", ["a", "b"])
    with pytest.raises(ConfigError, match="--constraint must be one of"):
        fit_thresholds(s, y, np.array([0, 1, 0, 1]), "parity", ["a", "b"])


def test_postprocess_writes_a_run_that_evaluate_reproduces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = TrainConfig(dataset="synthetic", target="smile", protected="group", arch="tiny", size=32,
                      dataset_options={"n_train": 512, "n_val": 256, "n_test": 256, "correlation": 0.8},
                      epochs=2, batch_size=64, lr=3e-3, progress=False)
    train(cfg, tmp_path / "base")
    base = evaluate(tmp_path / "base", n_boot=0, progress=False)
    base_val = evaluate(tmp_path / "base", split="val", n_boot=0, progress=False).overall
    before = sorted(p.name for p in (tmp_path / "base").iterdir())
    rep = postprocess(tmp_path / "base", tmp_path / "eo", "equalized_odds", n_boot=50, progress=False)
    files = {p.name for p in (tmp_path / "eo").iterdir()}
    assert {"config.json", "metrics.json", "predictions.csv", "metrics-val.json", "best.json", "log.jsonl",
            "checkpoints"} <= files
    doc = json.loads((tmp_path / "eo" / "metrics.json").read_text())
    assert doc["method"] == "postprocess" and doc["base_run"] == str(tmp_path / "base")
    # scores are the base model's: AUC unchanged; only decisions moved
    assert rep.overall["auc"] == pytest.approx(base.overall["auc"])
    val = json.loads((tmp_path / "eo" / "metrics-val.json").read_text())["metrics"]
    assert val["equalized_odds_mean"] < base_val["equalized_odds_mean"]
    # evaluate rebuilds the rule from the folder alone and gives the same decisions
    again = evaluate(tmp_path / "eo", n_boot=0, progress=False)
    assert again.overall == pytest.approx(rep.overall)
    first = read_predictions(tmp_path / "eo" / "predictions.csv")
    assert (first.pred != read_predictions(tmp_path / "base" / "predictions.csv").pred).any()
    # nothing was written into the base run's folder, which cannot be the output either
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == before
    with pytest.raises(ConfigError, match="own folder"):
        postprocess(tmp_path / "base", tmp_path / "base")
    # table compares it with its base: a paired bootstrap on the same test images, and verdicts
    capsys.readouterr()
    assert main(["table", f"base={tmp_path / 'base'}", f"eo={tmp_path / 'eo'}"]) == 0
    out = capsys.readouterr().out
    assert "| eo | bootstrap |" in out and "eo against base: accuracy" in out and "DEOp (TPR gap)" in out


def test_a_group_absent_from_validation_gets_the_best_single_threshold() -> None:
    s = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.7])
    y = np.array([0, 1, 0, 1, 0, 1])
    fit = fit_thresholds(s, y, np.array([0, 0, 1, 1, 0, 1]), "equalized_odds", ["a", "b", "c"])
    assert fit.rules[2].thresholds == [0.7] and fit.rules[2].weights == [1.0]  # every image right at 0.7
