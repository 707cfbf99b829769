"""FineFACE table layouts from evaluated runs: per-group accuracies, and means over attributes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from facefair.metrics import fairness_report
from facefair.report.paper_tables import attribute_table, group_table


def write_run(path: Path, target: str, y: np.ndarray, pred: np.ndarray, group: list[str], **doc_fields) -> Path:
    path.mkdir(parents=True)
    doc = {"target": target, "dataset": "celeba", **doc_fields, **fairness_report(y, pred, group).to_dict()}
    (path / "metrics.json").write_text(json.dumps(doc))
    return path


def cells(table: str, label: str) -> list[str]:
    row = next(line for line in table.splitlines() if line.startswith(f"| {label} |"))
    return [c.strip() for c in row.strip("|").split("|")][1:]


def test_group_table_prints_group_accuracies_and_summary(tmp_path: Path) -> None:
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    pred = np.array([1, 1, 0, 1, 1, 0, 1, 0])  # group A: 3 of 4 right, group B: 2 of 4
    run = write_run(tmp_path / "r", "gender", y, pred, ["A"] * 4 + ["B"] * 4)
    table = group_table({"base": [run]})
    assert table.splitlines()[0] == "| setting | data | A | B | Max/Min | Overall | DoB |"
    # A: 3/4, B: 2/4 -> ratio 1.5, overall 5/8, DoB = sd([0.75, 0.5], ddof=1)
    assert cells(table, "base") == ["celeba", "75.0", "50.0", "1.500", "62.50",
                                    f"{100 * np.std([0.75, 0.5], ddof=1):.2f}"]


def test_cross_dataset_groups_in_the_papers_order_with_their_data(tmp_path: Path) -> None:
    names = ["Asian|Female", "Asian|Male", "Black|Female", "Black|Male", "White|Female", "White|Male"]
    y = np.ones(12, dtype=int)
    run = write_run(tmp_path / "r", "gender", y, y, [n for n in names for _ in range(2)], dataset="utkface",
                    trained_on="fairface", split="all")
    head = group_table({"FineFACE": [run]}).splitlines()[0]
    # FineFACE Table 3: White, Black, Asian, each men then women
    assert head == ("| setting | data | White\\|Male | White\\|Female | Black\\|Male | Black\\|Female | "
                    "Asian\\|Male | Asian\\|Female | Max/Min | Overall | DoB |")
    assert cells(group_table({"FineFACE": [run]}), "FineFACE")[0] == "utkface (trained on fairface), all"


def test_attribute_table_averages_over_targets_then_lists_worst_groups(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    runs, reports = [], []
    for t in ("Smiling", "Bangs"):
        y, pred = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
        g = list(rng.choice(["F", "M"], 200))
        runs.append(write_run(tmp_path / t, t, y, pred, g))
        reports.append(fairness_report(y, pred, g).overall)
    table = attribute_table({"ff": runs})
    got = cells(table, "ff")
    assert got[0] == "2"
    mean_acc = (reports[0]["accuracy"] + reports[1]["accuracy"]) / 2
    mean_deodds = (reports[0]["equalized_odds_sum"] + reports[1]["equalized_odds_sum"]) / 2
    assert got[1] == f"{100 * mean_acc:.2f}" and got[-1] == f"{100 * mean_deodds:.2f}"
    assert cells(table, "Bangs") == [f"{100 * reports[1]['worst_group_accuracy']:.2f}"]


def test_rows_may_read_a_tagged_evaluation_of_each_run(tmp_path: Path, caplog) -> None:
    from facefair.report.tables import parse_rows, seed_table

    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    g = ["A"] * 4 + ["B"] * 4
    for s in (0, 1):
        run = write_run(tmp_path / f"di-s{s}", "t", y, y.copy(), g)  # metrics.json: all right
        doc = {"target": "t", **fairness_report(y, 1 - y, g).to_dict()}  # tagged: all wrong
        if s == 0:
            (run / "metrics-inference-conditional.json").write_text(json.dumps(doc))
    rows = parse_rows([f"sum={tmp_path}/di-s*", f"cond={tmp_path}/di-s*::metrics-inference-conditional.json"])
    assert len(rows["sum"]) == 2 and rows["cond"] == [str(tmp_path / "di-s0" / "metrics-inference-conditional.json")]
    notes = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "di-s1" in notes[0]  # the run without the tagged file is named, not dropped silently
    table = seed_table(rows, metrics=("accuracy",))
    assert cells(table, "sum") == ["2", "1.0000 ± 0.0000"] and cells(table, "cond") == ["1", "0.0000"]


def test_a_metric_only_some_runs_have_is_averaged_over_those_and_says_so(tmp_path: Path) -> None:
    from facefair.report.tables import interval_table, seed_table

    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    g = ["A"] * 4 + ["B"] * 4
    score = np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.4, 0.6, 0.3])
    new = {"target": "t", **fairness_report(y, y.copy(), g, score=score).to_dict()}  # has auc: 15 of 16 pairs
    old = {"target": "t", **fairness_report(y, y.copy(), g).to_dict()}  # evaluated before auc existed
    assert new["metrics"]["auc"] == 15 / 16 and old["metrics"].get("auc") is None
    runs = [new, old, old]
    seeds = seed_table({"mixed": runs}, metrics=("accuracy", "auc"))
    assert cells(seeds, "mixed") == ["3", "1.0000 ± 0.0000", "0.9375 (1 of 3 runs)"]
    intervals = interval_table({"mixed": runs}, metrics=("accuracy", "auc"))
    acc, auc = cells(intervals, "mixed")[1:]
    assert "of 3 runs" not in acc and auc.startswith("0.938") and auc.endswith("(1 of 3 runs)")
