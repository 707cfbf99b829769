"""Experiment files and their runner: every repository experiment plans at both scales; a
tiny synthetic experiment runs end to end, writes its tables, skips what is done, resumes
what was cut, and refuses a folder made by another plan; bad files name file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facefair.cli import main
from facefair.errors import ConfigError
from facefair.experiments import find_experiments, load_experiment, run_experiment

QUIET = lambda *_: None

TINY = """
[experiment]
name = "tiny"
paper = "ASAC Table 4 (tiny)"
layout = "asac"
seeds = [0, 1]
description = "synthetic faces, tiny CNN"

[train]
dataset = "synthetic"
dataset_options = { n_train = 192, n_val = 64, n_test = 96 }
arch = "tiny"
size = 32
batch_size = 32
progress = false

[scale.cpu]
epochs = 2

[scale.gpu]
epochs = 20

[[run]]
id = "base"
label = "Base"

[[run]]
id = "asac"
label = "ASAC"
from = "base"
method = "asac"
options = { probe_epochs = 2 }
cpu = { epochs = 1 }

[[run]]
id = "di"
label = "Domain-independent"
method = "domain_independent"
evaluate = [{ inference = "conditional" }]
"""


def test_every_repository_experiment_plans_at_both_scales(tmp_path: Path) -> None:
    found = find_experiments()
    assert {"asac_table1", "asac_table3", "asac_table4", "asac_table5", "asac_table6",
            "fineface_table2", "fineface_table6"} <= set(found)
    for name, path in found.items():
        exp = load_experiment(path)
        assert len(exp.seeds) >= 3, name  # every result from at least 3 seeds
        for scale in ("cpu", "gpu"):
            plan = exp.plan(scale, tmp_path, tmp_path / "data")
            folders = [p.folder for p in plan]
            assert len(set(folders)) == len(folders), name
            for i, p in enumerate(plan):
                if p.base is not None:  # a fine-tune comes after its base, same seed
                    assert p.base in folders[:i] and p.base.name.endswith(f"-s{p.seed}")
                else:
                    cfg = p.config()
                    assert cfg.seed == p.seed and cfg.method == p.method
                    assert Path(cfg.root).parent == tmp_path / "data"  # roots under --data
    t1 = load_experiment(found["asac_table1"]).plan("cpu", tmp_path, tmp_path)
    assert {p.overrides.get("target") for p in t1} == {"Smiling", "Big_Nose", "Wavy_Hair"}
    assert len(load_experiment(found["fineface_table6"]).doc["grid"]["target"]) == 13


def test_a_tiny_experiment_runs_skips_resumes_and_refuses(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = tmp_path / "out"
    assert main(["experiment", "run", str(path), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": trained") == 6
    results = out / "tiny" / "cpu" / "results.md"
    text = results.read_text()
    assert "| Base | 2 |" in text and "| ASAC | 2 |" in text and "| Domain-independent | 2 |" in text
    assert "mean ± sd" in text
    folder = out / "tiny" / "cpu"
    asac = json.loads((folder / "asac-s1" / "config.json").read_text())
    assert asac["method"] == "asac" and asac["epochs"] == 1 and Path(asac["init"]) == folder / "base-s1"
    assert (folder / "di-s0" / "metrics-inference-conditional.json").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in folder.glob("*/checkpoints/last.pt")}
    before = (folder / "asac-s0" / "metrics.json").read_text()

    (folder / "asac-s0" / "metrics.json").unlink()  # as if cut after training
    assert main(["experiment", "run", str(path), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": done") == 5 and printed.count(": resumed") == 1
    assert {p: p.stat().st_mtime_ns for p in folder.glob("*/checkpoints/last.pt")} == stamps
    assert json.loads((folder / "asac-s0" / "metrics.json").read_text())["metrics"] == json.loads(before)["metrics"]

    path.write_text(TINY.replace("epochs = 2", "epochs = 3"))
    with pytest.raises(ConfigError, match="base-s0: its config.json differs"):
        run_experiment(load_experiment(path), out, log=QUIET)
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "fresh"), "--dry-run", "--seeds", "5"]) == 0
    assert "base-s5  erm  [to run]" in capsys.readouterr().out


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('[[run]]\nid = "base"', '[[run]]\nid = "base"\ncolour = "red"'), "unknown key"),
    (lambda t: t.replace('from = "base"', 'from = "di"'), "must name an earlier run"),
    (lambda t: t.replace('id = "di"', 'id = "base"'), "appears twice"),
    (lambda t: t.replace('layout = "asac"', 'layout = "pie"'), "layout must be one of"),
    (lambda t: t.replace("[scale.gpu]", "[scale.tpu]"), "scales are"),
    (lambda t: t.replace('paper = "ASAC Table 4 (tiny)"', ""), "needs 'paper'"),
    (lambda t: t + "\n[[run", "not valid TOML"),
])
def test_bad_experiment_files_name_file_and_key(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(edit(TINY))
    with pytest.raises(ConfigError, match=message) as e:
        load_experiment(path)
    assert str(path) in str(e.value)
