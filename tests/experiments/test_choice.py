"""Choice rows: a hyperparameter picked per seed on validation, never on test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_files import SWEEP

from facefair.cli import main
from facefair.config import TrainConfig
from facefair.data.from_config import load_task
from facefair.errors import ConfigError
from facefair.experiments import load_experiment


def _finished(folder: Path, val: dict[str, float], best_epoch: int = 2) -> None:
    """A run folder as the trainer leaves it: two epochs logged, ``best_epoch`` selected."""
    folder.mkdir(parents=True)
    rows = [{"epoch": e, **{f"val_{k}": (v if e == best_epoch else 0.0) for k, v in val.items()}} for e in (1, 2)]
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "best.json").write_text(json.dumps({"epoch": best_epoch, "score": val["accuracy"]}))
    (folder / "metrics.json").write_text("{}")


def test_a_choice_reads_validation_of_the_selected_epoch_and_keeps_to_the_accuracy_floor(tmp_path: Path) -> None:
    from facefair.experiments import Choice, PlannedRun

    def run(name: str, **val: float) -> PlannedRun:
        _finished(tmp_path / name, val)
        return PlannedRun(tmp_path / name, name, name, 0, "erm", {}, {})

    ref = run("erm", accuracy=0.90, equal_opportunity_diff=0.10)
    strong = run("w1", accuracy=0.70, equal_opportunity_diff=0.01)  # fair by not learning
    mild = run("w03", accuracy=0.885, equal_opportunity_diff=0.05)
    weak = run("w01", accuracy=0.895, equal_opportunity_diff=0.08)
    pick = lambda within, ref=ref: Choice([strong, mild, weak], "equal_opportunity_diff", ref, within).pick()
    assert pick(0.02)[0] is mild and "within 0.02 of erm's 0.9000" in pick(0.02)[1]
    assert pick(0.01)[0] is weak  # 0.885 is 0.015 below: out
    # every candidate's validation numbers are listed, the ones below the floor marked out
    assert "w1 0.0100 / 0.7000 (out); w03 0.0500 / 0.8850 (out); w01 0.0800 / 0.8950" in pick(0.01)[1]
    assert pick(0.5)[0] is strong and pick(0.0, None)[0] is strong  # no floor: the fairest
    assert pick(0.001)[0] is weak and "the most accurate" in pick(0.001)[1]  # none within: most accurate
    up = Choice([strong, mild, weak], "worst_group_accuracy", None).pick
    for p, v in ((strong, 0.6), (mild, 0.8), (weak, 0.7)):  # higher is better here
        (p.folder / "log.jsonl").write_text(json.dumps({"epoch": 2, "val_accuracy": 0.9, "val_worst_group_accuracy": v}) + "\n")
    assert up()[0] is mild
    (weak.folder / "metrics.json").unlink()  # one not finished: no choice yet, no row
    assert up() is None
    chosen = PlannedRun(tmp_path / "c", "c", "Chosen", 0, "choose", {}, {}, choice=Choice([strong, weak], "accuracy"))
    assert not chosen.done() and chosen.source() is None
    # once its runs are finished the pick is made, and kept for the command's run (a table
    # pass asks per row and file); a new plan, a new command, reads the logs afresh
    (weak.folder / "metrics.json").write_text("{}")
    (weak.folder / "log.jsonl").write_text(json.dumps({"epoch": 2, "val_accuracy": 0.95}) + "\n")
    assert chosen.done() and chosen.source() == weak.folder
    (weak.folder / "log.jsonl").write_text(json.dumps({"epoch": 2, "val_accuracy": 0.5}) + "\n")
    assert chosen.source() == weak.folder and chosen.pick()[0] is weak
    again = PlannedRun(tmp_path / "c", "c", "Chosen", 0, "choose", {}, {}, choice=Choice([strong, weak], "accuracy"))
    assert again.source() == strong.folder


def test_a_choice_leaves_out_runs_that_find_no_positive(tmp_path: Path) -> None:
    from facefair.experiments import Choice, PlannedRun

    def run(name: str, **val: float) -> PlannedRun:
        _finished(tmp_path / name, val)
        return PlannedRun(tmp_path / name, name, name, 0, "erm", {}, {})

    ref = run("erm", accuracy=0.95, tpr=0.7)
    silent = run("w1", accuracy=0.951, equalized_odds_sum=0.0, tpr=0.0)  # every face "no": gaps 0
    real = run("w01", accuracy=0.948, equalized_odds_sum=0.06, tpr=0.72)
    picked, why = Choice([silent, real], "equalized_odds_sum", ref, 0.01).pick()
    assert picked is real and "w1 0.0000 / 0.9510 (no positive found)" in why
    none = run("w03", accuracy=0.93, equalized_odds_sum=0.0, tpr=0.0)
    picked, why = Choice([silent, none], "equalized_odds_sum", ref, 0.01).pick()
    assert picked is silent and "no candidate finds a positive on validation" in why


def test_a_choice_warns_where_its_window_reaches_the_constant_rule(tmp_path: Path) -> None:
    """Bags_Under_Eyes in Table 7: ERM 0.3-1.1 validation points above answering "no" to
    everyone, so a 1-point window admits a near-constant candidate whose gaps are near 0."""
    from facefair.experiments import Choice, PlannedRun

    def run(name: str, **val: float) -> PlannedRun:
        _finished(tmp_path / name, val)
        return PlannedRun(tmp_path / name, name, name, 0, "erm", {}, {})

    logged = {"erm": {"accuracy": 0.805, "tpr": 0.3},  # "no" to everyone: 0.8
              "w03": {"accuracy": 0.800, "equalized_odds_sum": 0.01, "tpr": 0.01},
              "w01": {"accuracy": 0.804, "equalized_odds_sum": 0.06, "tpr": 0.16}}
    ref, quiet, useful = (run(n, **v, base_rate=0.2) for n, v in logged.items())
    picked, why = Choice([quiet, useful], "equalized_odds_sum", ref, 0.01).pick()
    assert picked is quiet and "warning: the window reaches" in why and "(0.8000 on validation)" in why
    picked, why = Choice([quiet, useful], "equalized_odds_sum", ref, 0.004).pick()  # floor 0.801
    assert picked is useful and "warning" not in why
    # runs logged before the trainer recorded a base rate: the same pick, no warning
    ref, quiet, useful = (run(f"{n}-old", **v) for n, v in logged.items())
    picked, why = Choice([quiet, useful], "equalized_odds_sum", ref, 0.01).pick()
    assert picked is quiet and "warning" not in why


def test_a_chosen_row_is_its_seeds_validation_pick_and_trains_nothing(tmp_path: Path, capsys) -> None:
    from facefair.report.tables import load_metrics
    from facefair.runfolder import best_validation

    text = SWEEP
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    out = tmp_path / "out"
    assert main(["experiment", "run", str(path), "--out", str(out), "--runs", "reg", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "6 run(s)" in printed and printed.count(": trained") == 6 and "reg-s" not in printed
    folder = out / "tiny" / "cpu"
    assert not (folder / "reg-s0").exists()
    results = (folder / "results.md").read_text()
    kept = {(r["run"], r["seed"]): r for r in json.loads((folder / "results.json").read_text())["runs"]}
    cfg = TrainConfig.load(folder / "base-s0" / "config.json")
    task = load_task(cfg)
    val_rate = float(np.mean(task.y[task.indices("val", cfg.max_val, cfg.split_seed)] == 1))
    assert 0.0 < val_rate < 1.0
    for seed in (0, 1):
        gaps = {r: best_validation(folder / f"{r}-s{seed}")["equal_opportunity_diff"] for r in ("w1", "w0")}
        want = min(gaps, key=lambda r: (gaps[r], r != "w1"))  # the lowest validation gap, first on a tie
        assert kept["reg", seed]["chosen"] == want
        assert f"seed {seed} {want} (best validation equal_opportunity_diff, accuracy within 1 of Base's" in results
        # the trainer logs the validation split's share of positives; a 1.0 window reaches the
        # accuracy of answering one class to everyone, so the pick's line warns
        assert {best_validation(folder / f"{r}-s{seed}")["base_rate"] for r in ("base", "w1", "w0")} == {val_rate}
        assert "warning: the window reaches the accuracy of answering one class to everyone" in results
        acc = load_metrics(folder / f"{want}-s{seed}")["metrics"]["accuracy"]
        kept_acc = kept[want, seed]["metrics"]["metrics"]["accuracy"]
        assert acc == kept_acc
    row = next(line for line in results.split("## Every metric")[1].splitlines() if line.startswith("| Regularized (chosen) |"))
    chosen = [load_metrics(folder / f"{kept['reg', s]['chosen']}-s{s}")["metrics"]["accuracy"] for s in (0, 1)]
    assert f"{sum(chosen) / 2:.4f} ±" in row

    for bad, message in (('among = ["w1", "nope"]', "must name earlier trained runs"),
                         ('metric = "colour"', "metric must be one of"),
                         ("accuracy_within = -1", "accuracy_within must be a number >= 0")):
        edited = text.replace({"among": 'among = ["w1", "w0"]', "metric": 'metric = "equal_opportunity_diff"',
                               "accuracy_within": "accuracy_within = 1.0"}[bad.split(" =")[0]], bad)
        path.write_text(edited)
        with pytest.raises(ConfigError, match=message):
            load_experiment(path)
    path.write_text(text.replace('id = "reg"', 'id = "reg"\nmethod = "erm"'))
    with pytest.raises(ConfigError, match="trains nothing, so it takes no method"):
        load_experiment(path)
