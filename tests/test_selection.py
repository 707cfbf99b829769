"""facefair select: validation-only choices with known answers, the stability count, collapses
left out, and the test metrics reported for the choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facefair.cli import main
from facefair.errors import ConfigError
from facefair.selection import Constraint, select


def run(path: Path, seed: int, val: dict[str, float], test_acc: float) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"seed": seed}))
    (path / "best.json").write_text(json.dumps({"epoch": 1}))
    row = {"epoch": 1, "val_tpr": 0.7, "val_base_rate": 0.4, **{f"val_{k}": v for k, v in val.items()}}
    (path / "log.jsonl").write_text(json.dumps(row) + "\n")
    (path / "metrics.json").write_text(json.dumps({"metrics": {"accuracy": test_acc, "equalized_odds_mean": 0.1},
                                                   "ci": {"accuracy": [test_acc - 0.01, test_acc + 0.01]},
                                                   "groups": []}))
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    # A: most accurate but unfair; B: fair, accurate; C: fair, less accurate; B and C swap on seed 1
    vals = {"A": [(0.90, 0.20), (0.91, 0.20)], "B": [(0.85, 0.02), (0.80, 0.02)], "C": [(0.82, 0.01), (0.84, 0.01)]}
    for name, seeds in vals.items():
        for s, (acc, gap) in enumerate(seeds):
            run(tmp_path / f"{name}-s{s}", s, {"accuracy": acc, "equalized_odds_mean": gap}, test_acc=acc - 0.05)
    return tmp_path


def test_the_best_feasible_setting_is_chosen_on_validation(settings: Path) -> None:
    specs = [f"{n}={settings}/{n}-s*" for n in "ABC"]
    free = select(specs)
    assert free.chosen is not None and free.chosen.label == "A"
    sel = select(specs, ["equalized_odds_mean<=0.03"])
    assert sel.feasible == ["B", "C"]
    assert sel.chosen is not None and sel.chosen.label == "C"  # means: B 0.825, C 0.83
    # one seed per setting: 2^3 draws; B wins when its seed 0 (0.85) is drawn (C: 0.82 or 0.84): 4 of 8
    assert sel.draws == 8 and sel.changed_share == pytest.approx(0.5)
    text = sel.to_text()
    assert "chosen: C" in text and "picks another setting in 50% of the 8 draws" in text
    assert "C-s0: accuracy 0.7700 [0.7600, 0.7800]" in text


def test_collapsed_candidates_and_bad_input(settings: Path, tmp_path: Path) -> None:
    run(tmp_path / "flat-s0", 0, {"accuracy": 0.95, "equalized_odds_mean": 0.0, "tpr": 0.0,
                                   "base_rate": 0.05}, test_acc=0.95)
    sel = select([f"{settings}/*-s0"], ["equalized_odds_mean<=0.03"])
    assert sel.chosen is not None and sel.chosen.label == "B-s0"  # flat-s0 would win, but answers 0 to all
    assert "left out, collapsed on validation: flat-s0: it predicts the negative class" in sel.to_text()
    assert sel.changed_share is None and "cannot be judged" in sel.to_text()
    with pytest.raises(ConfigError, match="unknown validation metric 'deo'"):
        select([f"{settings}/A-s*"], ["deo<=0.1"])
    with pytest.raises(ConfigError, match="METRIC<=X"):
        Constraint.parse("equalized_odds_mean=0.1")
    assert main(["select", f"{settings}/A-s*", "--constraint", "equalized_odds_mean<0.01"]) == 1


def test_select_json_is_written_where_asked(settings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "choice.json"
    assert main(["select", f"B={settings}/B-s*", f"C={settings}/C-s*", "--maximize", "accuracy",
                 "--constraint", "equalized_odds_mean<=0.03", "--pareto", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["chosen"] == "C" and doc["front"] == ["C"] and len(doc["candidates"]) == 2
    assert "validation Pareto front" in capsys.readouterr().out
