"""Metrics at scale: every SPEC metric of one million predictions, facefair against
Fairlearn's MetricFrame on the same arrays; same numbers, and the time of each.

Both arms run interleaved in rounds in one process (facefair, Fairlearn, facefair, ...); the
figure is the ratio of median times. Fairlearn computes per-group accuracy, selection rate,
TPR and FPR and the gaps from them (its ``equalized_odds_difference(agg="mean")`` and friends
reduce to these), facefair everything in the SPEC table from one confusion-count pass. The
largest absolute difference over all metrics both compute is recorded and must be ~1e-15.

    python benchmarks/metrics_scale.py [--n 1000000] [--groups 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _common import write_result

from facefair.metrics import fairness_report


def fairlearn_metrics(y: np.ndarray, pred: np.ndarray, group: np.ndarray) -> dict[str, float]:
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import accuracy_score

    mf = MetricFrame(metrics={"acc": accuracy_score, "sel": selection_rate, "tpr": true_positive_rate,
                              "fpr": false_positive_rate}, y_true=y, y_pred=pred, sensitive_features=group)
    by, overall = mf.by_group, mf.overall
    gap = lambda k: float(by[k].max() - by[k].min())
    return {"accuracy": float(overall["acc"]), "demographic_parity_diff": gap("sel"),
            "equal_opportunity_diff": gap("tpr"), "equalized_odds_mean": (gap("tpr") + gap("fpr")) / 2,
            "equalized_odds_sum": gap("tpr") + gap("fpr"), "best_group_accuracy": float(by["acc"].max()),
            "worst_group_accuracy": float(by["acc"].min()), "accuracy_ratio": float(by["acc"].max() / by["acc"].min()),
            "degree_of_bias": float(by["acc"].std(ddof=1)), "tpr": float(overall["tpr"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--groups", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    group = rng.integers(0, args.groups, args.n)
    y = rng.integers(0, 2, args.n)
    flip = rng.random(args.n) < 0.1 + 0.03 * group  # group-dependent error rate: real gaps
    pred = np.where(flip, 1 - y, y)
    names = np.array([f"group {g}" for g in range(args.groups)])[group]
    times: dict[str, list[float]] = {"facefair": [], "fairlearn": []}
    for _ in range(args.rounds):
        t = time.perf_counter()
        ours = fairness_report(y, pred, names).overall
        times["facefair"].append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs = fairlearn_metrics(y, pred, names)
        times["fairlearn"].append(time.perf_counter() - t)
    diff = max(abs(ours[k] - theirs[k]) for k in theirs)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["fairlearn"] / med["facefair"]
    row = (f"| metrics at scale: Fairlearn MetricFrame time / facefair time | {args.n:,} predictions, "
           f"{args.groups} groups, {len(theirs)} metrics both compute | facefair {med['facefair'] * 1000:.0f} ms, "
           f"Fairlearn {med['fairlearn'] * 1000:.0f} ms, max abs difference {diff:.1e} | {ratio:.1f} |")
    write_result(f"metrics_scale_{args.n}", {"n": args.n, "groups": args.groups, "seconds": times,
                                            "max_abs_diff": diff, "metrics": ours}, row)


if __name__ == "__main__":
    main()
