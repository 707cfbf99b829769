"""A finished mitigation says when it ended worse than its base or collapsed (validation only)."""

from __future__ import annotations

import json
from pathlib import Path

from facefair import TrainConfig, train
from facefair.logs import captured_messages
from facefair.mitigation import mitigate, mitigation_warnings


def fake_run(path: Path, **val: float) -> Path:
    """A run folder's best.json and log line, holding these validation metrics."""
    path.mkdir(parents=True)
    (path / "best.json").write_text(json.dumps({"epoch": 2}))
    rows = [{"epoch": 1, "val_accuracy": 0.5}, {"epoch": 2, **{f"val_{k}": v for k, v in val.items()}}]
    (path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_worse_and_collapsed_runs_are_named(tmp_path: Path) -> None:
    base = fake_run(tmp_path / "base", equalized_odds_mean=0.45, tpr=0.8, accuracy=0.8, base_rate=0.4,
                    demographic_parity_diff=0.3)
    worse = fake_run(tmp_path / "asac", equalized_odds_mean=1.0, tpr=0.5, accuracy=0.5, base_rate=0.4,
                     demographic_parity_diff=1.0)
    said = mitigation_warnings(base, worse)
    assert any("worse than its base on DEO" in w and "0.450 -> 1.000" in w for w in said)
    assert any("collapsed on validation: it predicts the protected group" in w for w in said)
    flat = fake_run(tmp_path / "flat", equalized_odds_mean=0.0, tpr=0.0, accuracy=0.6, base_rate=0.4,
                    demographic_parity_diff=0.0)
    assert mitigation_warnings(base, flat) == [(f"{flat} collapsed on validation: it predicts the negative class "
                                                "for (almost) everyone (TPR 0.000, accuracy 0.600 = the share of "
                                                "negatives)")]
    fine = fake_run(tmp_path / "fine", equalized_odds_mean=0.2, tpr=0.7, accuracy=0.78, base_rate=0.4,
                    demographic_parity_diff=0.2)
    assert mitigation_warnings(base, fine) == []


def test_mitigate_prints_the_warning_when_it_ends(tmp_path: Path) -> None:
    cfg = TrainConfig(dataset="synthetic", arch="tiny", size=32, epochs=1, batch_size=32, progress=False,
                      dataset_options={"n_train": 128, "n_val": 64, "n_test": 64})
    train(cfg, tmp_path / "base")
    # a learning rate this large ruins the model: it ends on a constant answer or a worse gap
    with captured_messages() as lines:
        mitigate("erm", tmp_path / "base", tmp_path / "ruined", epochs=1, lr=50.0, progress=False)
    expected = mitigation_warnings(tmp_path / "base", tmp_path / "ruined")
    assert expected, "lr=50 should ruin the model"
    assert [m for m in lines if m.startswith("warning: ")] == [f"warning: {w}" for w in expected]
