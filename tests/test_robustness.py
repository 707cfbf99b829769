"""The ASAC robustness view and the seed table on tiny runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facefair import TrainConfig, train
from facefair.analysis.robustness import robustness
from facefair.cli import main
from facefair.errors import ConfigError
from facefair.mitigation import mitigate


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig(arch="tiny", size=32, epochs=2, batch_size=32, progress=False,
                      dataset_options={"n_train": 256, "n_val": 64, "n_test": 96})
    train(cfg, root / "base")
    mitigate("asac", root / "base", root / "asac", {"eps": "0,0.03"}, epochs=1, progress=False)
    return root


def test_robustness_view(runs: Path) -> None:
    doc = robustness(runs / "asac", eps=[0.01, 0.05], n=64)
    assert doc["eps"] == [0.0, 0.01, 0.05] and doc["n"] == 64
    for side in ("before", "after"):
        assert doc[side]["flip"][0] == 0.0  # eps 0 is the clean image: nothing flips
        assert all(0.0 <= p <= 1.0 for p in doc[side]["p_true"])
    assert doc["classifier_flip"][0] == 0.0 and doc["classifier_flip"][2] >= doc["classifier_flip"][1]
    assert (runs / "asac" / "robustness.png").stat().st_size > 1000
    assert json.loads((runs / "asac" / "robustness.json").read_text())["base"] == str(runs / "base")
    with pytest.raises(ConfigError, match="without a protected classifier"):
        robustness(runs / "base", base=runs / "base")


def test_seed_table(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from facefair import evaluate

    evaluate(runs / "base", n_boot=0, progress=False)
    for s, acc in (("a", 0.8), ("b", 0.9)):
        d = tmp_path / f"r-{s}"
        d.mkdir()
        doc = json.loads((runs / "base" / "metrics.json").read_text())
        doc["metrics"]["accuracy"] = acc
        (d / "metrics.json").write_text(json.dumps(doc))
    assert main(["table", f"X={tmp_path}/r-*"]) == 0
    out = capsys.readouterr().out
    assert "| X | 2 |" in out and "0.8500 ± 0.0707" in out
    shutil.rmtree(tmp_path / "r-a")
    assert main(["table", f"Y={tmp_path}/nothing-*"]) == 2
