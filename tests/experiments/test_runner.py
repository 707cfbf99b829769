"""Running an experiment: a tiny synthetic one runs end to end, writes its tables, skips what is done, resumes what was cut, refuses a folder made by another plan, and reuses identical runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_files import TINY

from facefair.cli import main
from facefair.errors import ConfigError
from facefair.experiments import load_experiment, plan, run_experiment, seed_units


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
        run_experiment(load_experiment(path), out)
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "fresh"), "--dry-run", "--seeds", "5"]) == 0
    assert "base-s5  erm  [to run]" in capsys.readouterr().out


def test_identical_runs_are_reused_across_experiments_not_retrained(tmp_path: Path, capsys) -> None:
    first = tmp_path / "tiny.toml"
    first.write_text(TINY)
    out = tmp_path / "out"
    assert main(["experiment", "run", str(first), "--out", str(out), "--seeds", "0", "--no-progress"]) == 0
    capsys.readouterr()
    # another table with the same base and the same ASAC run, its default options spelled out
    second = tmp_path / "other.toml"
    second.write_text(TINY.replace('name = "tiny"', 'name = "other"').replace(
        'options = { probe_epochs = 2 }', 'options = { probe_epochs = 2, order = "ascending", alpha = 0.5 }'))
    assert main(["experiment", "run", str(second), "--out", str(out), "--seeds", "0", "--dry-run"]) == 0
    assert "[reuse " in capsys.readouterr().out
    assert main(["experiment", "run", str(second), "--out", str(out), "--seeds", "0", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": reused") == 3 and ": trained" not in printed
    for run in ("base-s0", "asac-s0"):
        a, b = out / "tiny" / "cpu" / run, out / "other" / "cpu" / run
        assert (a / "checkpoints" / "best.pt").stat().st_ino == (b / "checkpoints" / "best.pt").stat().st_ino
    # a changed option is a different run: trained, not reused
    third = tmp_path / "third.toml"
    third.write_text(TINY.replace('name = "tiny"', 'name = "third"').replace(
        'options = { probe_epochs = 2 }', 'options = { probe_epochs = 2, alpha = 0.3 }'))
    assert main(["experiment", "run", str(third), "--out", str(out), "--seeds", "0", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "asac-s0: trained" in printed and "base-s0: reused" in printed


def test_results_keep_grid_values_apart_and_attribute_means_spread_over_seeds(tmp_path: Path) -> None:
    """A grid value other than the target is its own row (ASAC Table 3's backbones must not be
    averaged together); the attributes layout takes each seed's mean over targets first, so its
    ± is the spread of the printed number over seeds, and a seed missing a target is left out."""
    import statistics

    from facefair.report.tables import load_metrics

    head = TINY.split("[[run]]")[0]
    seeds = head.replace('layout = "asac"', 'layout = "seeds"').replace("seeds = [0, 1]", "seeds = [0]")
    path = tmp_path / "lr.toml"
    path.write_text(seeds + '[grid]\ntarget = ["smile"]\nlr = [0.001, 0.01]\n\n[[run]]\nid = "base"\nlabel = "Base"\n')
    out = tmp_path / "out"
    run_experiment(load_experiment(path), out)
    results = (out / "tiny" / "cpu" / "results.md").read_text()
    for lr in ("0.001", "0.01"):
        acc = load_metrics(out / "tiny" / "cpu" / f"smile-{lr}" / "base-s0")["metrics"]["accuracy"]
        row = next(line for line in results.split("## Headline")[1].splitlines() if line.startswith(f"| Base (lr={lr}) |"))
        assert row.split(" | ")[1] == "1" and f"{acc:.3f} [" in row
    assert "| Base | " not in results

    attrs = head.replace('layout = "asac"', 'layout = "attributes"').replace('name = "tiny"', 'name = "attrs"')
    path = tmp_path / "attrs.toml"
    path.write_text(attrs + '[grid]\ntarget = ["smile", "hair"]\n\n[[run]]\nid = "base"\nlabel = "Base"\n')
    exp = load_experiment(path)
    run_experiment(exp, out)
    folder = out / "attrs" / "cpu"
    acc = {(t, s): load_metrics(folder / t / f"base-s{s}")["metrics"]["accuracy"] for t in ("smile", "hair") for s in (0, 1)}
    per_seed = [(acc["smile", s] + acc["hair", s]) / 2 for s in (0, 1)]
    want = f"{statistics.mean(per_seed):.3f} ± {statistics.stdev(per_seed):.3f} ["
    row = next(line for line in (folder / "results.md").read_text().split("## Headline")[1].splitlines()
               if line.startswith("| Base |"))
    assert row.split(" | ")[1] == "2" and row.split(" | ")[2].startswith(want)
    kept = json.loads((folder / "results.json").read_text())["runs"]  # run folders are scratch: the
    # archive alone gives the table's number
    again = [statistics.mean(r["metrics"]["metrics"]["accuracy"] for r in kept if r["seed"] == s) for s in (0, 1)]
    assert again == pytest.approx(per_seed, abs=1e-12) and len(kept) == 4

    # a run's metric warnings (a model that predicts one class) are named under the table
    doc = load_metrics(folder / "smile" / "base-s1")
    doc["warnings"] = ["every prediction is negative (0): ..."]
    (folder / "smile" / "base-s1" / "metrics.json").write_text(json.dumps(doc))
    run_experiment(exp, out)
    assert "- Base (target=smile), seed 1: every prediction is negative (0): ...\n" in (folder / "results.md").read_text()
    doc = load_metrics(folder / "smile" / "base-s0")  # the same warning on another seed: one line for both
    doc["warnings"] = ["every prediction is negative (0): ..."]
    (folder / "smile" / "base-s0" / "metrics.json").write_text(json.dumps(doc))
    run_experiment(exp, out)
    notes = [line for line in (folder / "results.md").read_text().splitlines() if line.endswith("(0): ...")]
    assert notes == ["- Base (target=smile), seeds 0, 1: every prediction is negative (0): ..."]

    (folder / "hair" / "base-s1" / "metrics.json").unlink()  # seed 1 lacks an attribute
    units, notes = seed_units(plan(exp, "cpu", out, Path("data")), average=["target"])
    assert len(units["Base"]) == 1 and units["Base"][0]["metrics"]["accuracy"] == pytest.approx(per_seed[0])
    assert notes == ["Base, seed 1: 1 of 2 runs evaluated; left out of the mean ± sd (it averages over target)"]


def test_a_post_processing_row_beside_the_trained_ones(tmp_path: Path, capsys) -> None:
    """A ``method = "postprocess"`` row fits group thresholds on its base's validation scores,
    sits in the tables and the comparison with the base, and is done on a second run."""
    path = tmp_path / "pp.toml"
    path.write_text(TINY.split("[[run]]")[0] + """
[[run]]
id = "base"
label = "Base"

[[run]]
id = "eo"
label = "Post-processing (EO)"
from = "base"
method = "postprocess"
options = { constraint = "equalized_odds" }
""")
    out = tmp_path / "out"
    assert main(["experiment", "run", str(path), "--out", str(out), "--no-progress", "--seeds", "0,1"]) == 0
    assert capsys.readouterr().out.count(": trained") == 4
    text = (out / "tiny" / "cpu" / "results.md").read_text()
    assert "| Post-processing (EO) | 2 |" in text and "| Post-processing (EO) | seeds |" in text
    cfg = json.loads((out / "tiny" / "cpu" / "eo-s0" / "config.json").read_text())
    assert cfg["method"] == "postprocess" and cfg["method_options"]["base_method"] == "erm"
    assert main(["experiment", "run", str(path), "--out", str(out), "--no-progress", "--seeds", "0,1"]) == 0
    assert capsys.readouterr().out.count(": done") == 4


def test_a_run_folder_keeps_resolved_paths_and_is_still_found_by_a_relative_plan(tmp_path: Path, monkeypatch) -> None:
    """The trainer keeps the data root and a manifest resolved in config.json; a plan made with
    a relative --data (the default ../shared/data) still finds that run to reuse, and still
    sees it as its own folder."""
    from facefair.config import TrainConfig, resolve_data_paths
    from facefair.experiments.identity import find_same, identity

    monkeypatch.chdir(tmp_path)
    planned = TrainConfig(dataset="celeba", root="data/celeba", target="Smiling", protected="Male")
    kept = TrainConfig(dataset="celeba", root=str(tmp_path / "data" / "celeba"), target="Smiling", protected="Male")
    done = tmp_path / "out" / "t1" / "base-s0"
    done.mkdir(parents=True)
    kept.save(done / "config.json")
    (done / "metrics.json").write_text("{}")
    assert find_same(tmp_path / "out", planned, tmp_path / "out" / "t6" / "erm-s0") == done
    assert resolve_data_paths(identity(planned)) == resolve_data_paths(identity(kept))
    other = TrainConfig(dataset="celeba", root="elsewhere/celeba", target="Smiling", protected="Male")
    assert find_same(tmp_path / "out", other, tmp_path / "x") is None
    manifest = {"manifest": "data/m.csv"}
    assert resolve_data_paths({"dataset_options": manifest})["dataset_options"]["manifest"] == str(tmp_path / "data" / "m.csv")
