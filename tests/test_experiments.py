"""Experiment files and their runner: every repository experiment plans at both scales; a
tiny synthetic experiment runs end to end, writes its tables, skips what is done, resumes
what was cut, and refuses a folder made by another plan; bad files name file and key."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from facefair.cli import main
from facefair.config import TrainConfig
from facefair.data.from_config import load_task
from facefair.errors import ConfigError
from facefair.experiments import find_experiments, load_experiment, plan, run_experiment, seed_units

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

# A regulariser sweep and the row that picks its weight per seed on validation.
SWEEP = TINY.split("[[run]]")[0] + """
[[run]]
id = "base"
label = "Base"

[[run]]
id = "w1"
label = "Regularized (weight 1)"
method = "regularized"
options = { weight = 1.0 }

[[run]]
id = "w0"
label = "Regularized (weight 0.1)"
method = "regularized"
options = { weight = 0.1 }

[[run]]
id = "reg"
label = "Regularized (chosen)"
choose = { among = ["w1", "w0"], metric = "equal_opportunity_diff", reference = "base", accuracy_within = 1.0 }
"""


def test_every_repository_experiment_plans_at_both_scales(tmp_path: Path) -> None:
    found = find_experiments()
    assert {"asac_table1", "asac_table3", "asac_table4", "asac_table5", "asac_table6",
            "fineface_table2", "fineface_table3", "fineface_table6", "fineface_table7"} <= set(found)
    for name, path in found.items():
        exp = load_experiment(path)
        assert len(exp.seeds) >= 3, name  # every result from at least 3 seeds
        for scale in ("cpu", "gpu", "pretrained"):
            if scale == "pretrained" and scale not in exp.scales:
                continue
            planned = plan(exp, scale, tmp_path, tmp_path / "data")
            folders = [p.folder for p in planned]
            assert len(set(folders)) == len(folders), name
            for i, p in enumerate(planned):
                if p.choice is not None:  # a chosen row comes after what it chooses among, same seed
                    among = p.choice.among + [p.choice.reference]
                    assert all(c in planned[:i] and c.seed == p.seed and c.grid == p.grid for c in among)
                elif p.base is not None:  # a fine-tune comes after its base, same seed
                    assert p.base in folders[:i] and p.base.name.endswith(f"-s{p.seed}")
                else:
                    cfg = p.config()
                    assert cfg.seed == p.seed and cfg.method == p.method
                    assert Path(cfg.root).parent == tmp_path / "data"  # roots under --data
    for name in ("asac_table1", "fineface_table2", "fineface_table6"):  # the pretrained regime's tables
        for p in plan(load_experiment(found[name]), "pretrained", tmp_path, tmp_path / "data"):
            if p.base is None and p.choice is None:
                cfg = p.config()
                assert (cfg.arch, cfg.pretrained, cfg.bf16) == ("efficientnet_lite0", "imagenet", False), name
    t1 = plan(load_experiment(found["asac_table1"]), "cpu", tmp_path, tmp_path)
    assert {p.overrides.get("target") for p in t1} == {"Smiling", "Big_Nose", "Wavy_Hair"}
    assert len(load_experiment(found["fineface_table6"]).grid["target"]) == 13
    cross = plan(load_experiment(found["fineface_table3"]), "cpu", tmp_path, tmp_path / "data")[0].cross
    assert {c.dataset for c in cross} == {"celeba", "utkface", "manifest"}
    assert all(Path(c.root or c.manifest).is_relative_to(tmp_path / "data") for c in cross)


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


def test_set_overrides_every_run_and_refuses_what_it_cannot_mean(tmp_path: Path, capsys) -> None:
    from facefair.experiments import parse_set

    assert [parse_set(x) for x in ("bf16=false", "epochs=1", "lr=0.01", "arch=resnet50", 'arch="tiny"')] == [
        ("bf16", False), ("epochs", 1), ("lr", 0.01), ("arch", "resnet50"), ("arch", "tiny")]
    for bad in ("bf16", "=1", "bf16="):
        with pytest.raises(ConfigError, match="--set takes KEY=VALUE"):
            parse_set(bad)
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = tmp_path / "out"
    assert main(["experiment", "run", str(path), "--out", str(out), "--no-progress", "--seeds", "0",
                 "--set", "lr=0.002", "--set", "channels_last=true"]) == 0
    assert "with lr=0.002, channels_last=True over the file" in capsys.readouterr().out
    assert "run with --set lr=0.002 --set channels_last=True over it." in (out / "tiny" / "cpu" / "results.md").read_text()
    assert json.loads((out / "tiny" / "cpu" / "results.json").read_text())["set"] == {"lr": 0.002, "channels_last": True}
    for run in ("base", "asac", "di"):  # the fine-tune (asac) too, over its own and its base's options
        cfg = json.loads((out / "tiny" / "cpu" / f"{run}-s0" / "config.json").read_text())
        assert cfg["lr"] == 0.002 and cfg["channels_last"] is True, run
    assert main(["experiment", "run", str(path), "--out", str(out), "--no-progress", "--seeds", "0",
                 "--set", "lr=0.002", "--set", "channels_last=true"]) == 0
    assert capsys.readouterr().out.count(": done") == 3  # the same --set: the same runs, skipped
    with pytest.raises(ConfigError, match="config.json differs"):  # without it: other runs, refused
        run_experiment(load_experiment(path), out, seeds=[0])
    exp = load_experiment(path)
    for sets, message in (({"colour": "red"}, "unknown training option 'colour' in --set"),
                          ({"bf16": "yes"}, "option bf16 must be true or false, got 'yes' in --set"),
                          ({"epochs": 3.5}, "option epochs must be an integer, got 3.5"),
                          ({"seed": 3}, "use --seeds"), ({"target": "x"}, "use --grid")):
        if message == "use --grid":
            exp = dataclasses.replace(exp, grid={"target": ("smile",)})
        with pytest.raises(ConfigError, match=message):
            plan(exp, "cpu", out, tmp_path, sets=sets)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('[[run]]\nid = "base"', '[[run]]\nid = "base"\ncolour = "red"'), "unknown key"),
    (lambda t: t.replace('from = "base"', 'from = "di"'), "must name an earlier run"),
    (lambda t: t.replace('id = "di"', 'id = "base"'), "appears twice"),
    (lambda t: t.replace('layout = "asac"', 'layout = "pie"'), "layout must be one of"),
    (lambda t: t.replace("[scale.gpu]", "[scale.tpu]"), "scales are"),
    (lambda t: t.replace('paper = "ASAC Table 4 (tiny)"', ""), "needs 'paper'"),
    (lambda t: t + "\n[[run", "not valid TOML"),
    (lambda t: t.replace("cpu = { epochs = 1 }", "cpu = 1"), "cpu must be a table"),
    (lambda t: t.replace("cpu = { epochs = 1 }", 'cpu = { epochs = 1, options = "fast" }'), "options = { ... }"),
    # every value is checked with its declared type, and every method option by name, at load
    (lambda t: t.replace("[scale.cpu]\nepochs = 2", "[scale.cpu]\nepochs = 2.5"), r"\[scale.cpu\]: option epochs must be an integer"),
    (lambda t: t.replace("progress = false", 'progress = "no"'), r"\[train\]: option progress must be true or false"),
    (lambda t: t.replace("cpu = { epochs = 1 }", "cpu = { epochs = 1, colour = 2 }"), "run 'asac' cpu: unknown training option 'colour'"),
    (lambda t: t.replace("probe_epochs = 2 }", "probe_epochz = 2 }"), "run 'asac': unknown option of this method 'probe_epochz'"),
    (lambda t: t.replace("probe_epochs = 2 }", 'probe_epochs = "two" }'), "run 'asac': option probe_epochs must be an integer"),
    (lambda t: t.replace('inference = "conditional"', "inferens = 1"), "run 'di': unknown option"),
    (lambda t: t.replace('layout = "asac"', 'layout = "asac"\nauthor = "me"'), r"\[experiment\]: unknown key\(s\) author"),
    (lambda t: t + '\n[grid]\ncolour = ["red"]\n', r"\[grid\] colour: not a training option"),
    (lambda t: t + '\n[grid]\nsize = [32, "big"]\n', r"\[grid\] size: option size must be an integer"),
])
def test_bad_experiment_files_name_file_and_key(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(edit(TINY))
    with pytest.raises(ConfigError, match=message) as e:
        load_experiment(path)
    assert str(path) in str(e.value)


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


def test_grid_filter_and_cross_dataset_entries(tmp_path: Path, capsys) -> None:
    from helpers import write_manifest

    data = tmp_path / "data"
    write_manifest(data / "mine")
    text = TINY.split("[[run]]")[0] + """
[grid]
target = ["smile", "hair"]

[[run]]
id = "base"
label = "Base"

[[cross]]
label = "my faces"
dataset = "manifest"
manifest = "mine/manifest.csv"
target = "smiling"
protected = "tone"
positive = "yes"
name = "on-mine"

[[cross]]
dataset = "utkface"
root = "utkface"
"""
    path = tmp_path / "cross.toml"
    path.write_text(text)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="grid target has no value nose"):
        run_experiment(load_experiment(path), out, data=data, only={"target": ["nose"]})
    assert main(["experiment", "run", str(path), "--out", str(out), "--data", str(data), "--grid", "target=smile",
                 "--seeds", "0,1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": trained") == 2 and "hair" not in printed
    assert "skipping cross-dataset evaluation on utkface" in printed
    for seed in (0, 1):
        doc = json.loads((out / "tiny" / "cpu" / "smile" / f"base-s{seed}" / "metrics-on-mine.json").read_text())
        assert doc["dataset"] == "manifest" and doc["trained_on"] == "synthetic"
    results = (out / "tiny" / "cpu" / "results.md").read_text()
    assert "## Cross-dataset: my faces (trained on synthetic, tested on manifest test)" in results
    assert "[" in results.split("## Headline metrics")[1].split("\n")[4]  # mean ± sd [interval]
    kept = json.loads((out / "tiny" / "cpu" / "results.json").read_text())  # the record beside the table
    assert [(r["folder"], r["seed"], r["grid"]) for r in kept["runs"]] == [
        (f"smile/base-s{s}", s, {"target": "smile"}) for s in (0, 1)]
    for r in kept["runs"]:
        folder = out / "tiny" / "cpu" / r["folder"]
        assert r["metrics"] == json.loads((folder / "metrics.json").read_text())
        assert r["cross"] == {"metrics-on-mine.json": json.loads((folder / "metrics-on-mine.json").read_text())}


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


def test_runs_filter_keeps_named_rows_and_their_bases(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    exp, out = load_experiment(path), tmp_path / "out"
    ids = lambda runs: [(p.run_id, p.seed) for p in plan(exp, "cpu", out, tmp_path, runs=runs)]
    assert ids(None) == [(r, s) for s in (0, 1) for r in ("base", "asac", "di")]
    assert ids(["di"]) == [("di", 0), ("di", 1)]
    assert ids(["asac"]) == [("base", 0), ("asac", 0), ("base", 1), ("asac", 1)]  # ASAC needs its base
    asac = next(p for p in plan(exp, "cpu", out, tmp_path, runs=["asac"]) if p.run_id == "asac")
    assert asac.base == out / "tiny" / "cpu" / "base-s0"
    for bad, message in ((["nope"], "no run nope"), ([], "none named")):
        with pytest.raises(ConfigError, match=message) as e:
            plan(exp, "cpu", out, tmp_path, runs=bad)
        assert "runs: base, asac, di" in str(e.value)
    assert main(["experiment", "run", str(path), "--out", str(out), "--runs", "di", "--seeds", "0",
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "1 run(s)" in printed and "di-s0: trained" in printed and "base-s0" not in printed
    table = (out / "tiny" / "cpu" / "results.md").read_text()
    assert "Domain-independent" in table and "ASAC" not in table.split("## Headline")[1]


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


def test_restore_finishes_a_table_from_its_archive_without_training_done_runs(tmp_path: Path, capsys) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    first = tmp_path / "first"
    assert main(["experiment", "run", str(path), "--out", str(first), "--no-progress"]) == 0
    made = first / "tiny" / "cpu"
    archive = json.loads((made / "results.json").read_text())
    assert all("validation" in r and "identity" in r for r in archive["runs"] if r["method"] != "choose")
    capsys.readouterr()

    # a fresh machine: every run restored from the committed archive, none trained
    again = tmp_path / "again"
    assert main(["experiment", "run", str(path), "--out", str(again), "--no-progress",
                 "--restore", str(made / "results.json")]) == 0
    printed = capsys.readouterr().out
    assert "restored 6 run folder(s)" in printed and printed.count(": restored") == 6 and ": trained" not in printed
    redone = again / "tiny" / "cpu"
    assert (redone / "results.md").read_text().replace(f" (restored from {made / 'results.json'})", "") == \
        (made / "results.md").read_text()
    assert json.loads((redone / "results.json").read_text()) == archive  # re-archiving loses nothing
    assert not list(redone.rglob("*.pt"))  # no checkpoints: nothing is evaluated again

    # part of a table restored: the missing run trains, and its seed's choice is computed
    # afresh from the restored runs' archived validation metrics and the new run's log
    part = dict(archive, runs=[r for r in archive["runs"] if (r["run"], r["seed"]) not in {("w0", 1), ("reg", 1)}])
    (tmp_path / "part.json").write_text(json.dumps(part))
    third = tmp_path / "third"
    assert main(["experiment", "run", str(path), "--out", str(third), "--no-progress",
                 "--restore", str(tmp_path / "part.json")]) == 0
    printed = capsys.readouterr().out
    assert "restored 5 run folder(s)" in printed and "w0-s1: trained" in printed
    kept = {(r["run"], r["seed"]): r for r in archive["runs"]}
    rebuilt = {(r["run"], r["seed"]): r for r in json.loads((third / "tiny" / "cpu" / "results.json").read_text())["runs"]}
    assert rebuilt["reg", 1]["chosen"] == kept["reg", 1]["chosen"]  # same seed, same numbers on CPU
    assert rebuilt["w0", 1]["metrics"]["metrics"] == kept["w0", 1]["metrics"]["metrics"]

    # an archive of another plan, or of a config the file no longer trains, is refused, and an
    # older archive without validation metrics says why a choice cannot be computed from it
    def refused(args: list[str], out: str) -> str:
        assert main(["experiment", "run", str(path), "--out", str(tmp_path / out), "--no-progress", *args]) != 0
        return capsys.readouterr().err

    err = refused(["--set", "bf16=false", "--restore", str(made / "results.json")], "x")
    assert f"{made / 'results.json'}: archive of another plan: set {{}} (here {{'bf16': False}})" in err
    path.write_text(SWEEP.replace("weight = 0.1", "weight = 0.2"))
    assert "run w0 seed 0 was trained with another config" in refused(["--restore", str(made / "results.json")], "y")
    path.write_text(SWEEP)
    old = dict(part, runs=[{k: v for k, v in r.items() if k != "validation"} for r in part["runs"]])
    (tmp_path / "old.json").write_text(json.dumps(old))
    err = refused(["--restore", str(tmp_path / "old.json")], "z")
    assert "restored.json: the archive" in err and "kept no validation metrics" in err


def test_restore_trains_a_base_whose_fine_tune_the_archive_lacks(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    first = tmp_path / "first"
    assert main(["experiment", "run", str(path), "--out", str(first), "--runs", "di", "--seeds", "0",
                 "--no-progress"]) == 0
    base_only = json.loads((first / "tiny" / "cpu" / "results.json").read_text())
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "b"), "--runs", "base", "--seeds", "0",
                 "--no-progress"]) == 0
    base_only["runs"] += json.loads((tmp_path / "b" / "tiny" / "cpu" / "results.json").read_text())["runs"]
    (tmp_path / "a.json").write_text(json.dumps(base_only))
    capsys.readouterr()
    # di is restored; base is archived, but ASAC fine-tunes from its weights, so it trains
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "c"), "--seeds", "0", "--no-progress",
                 "--restore", str(tmp_path / "a.json")]) == 0
    printed = capsys.readouterr().out
    assert "restored 1 run folder(s)" in printed and "di-s0: restored" in printed
    assert "base-s0: trained" in printed and "asac-s0: trained" in printed
    # that table whole (a fine-tune and its base among it): restored, nothing planned from weights
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "d"), "--seeds", "0", "--no-progress",
                 "--restore", str(tmp_path / "c" / "tiny" / "cpu" / "results.json")]) == 0
    printed = capsys.readouterr().out
    assert "restored 3 run folder(s)" in printed and ": trained" not in printed
    assert (tmp_path / "d" / "tiny" / "cpu" / "results.md").read_text() == \
        (tmp_path / "c" / "tiny" / "cpu" / "results.md").read_text()


def test_restore_takes_a_fineface_row_whose_options_hold_a_tuple(tmp_path: Path, capsys) -> None:
    # FineFACE's default stages are a tuple; its archived identity holds a JSON list, and the
    # two must compare equal or no FineFACE row could ever be restored
    path = tmp_path / "ff.toml"
    path.write_text(TINY.split("[[run]]")[0] + """
[[run]]
id = "ff"
label = "FineFACE"
method = "fineface"
options = { width = 16, hidden = 8 }
""")
    first = tmp_path / "first"
    assert main(["experiment", "run", str(path), "--out", str(first), "--seeds", "0", "--no-progress"]) == 0
    archive = first / "tiny" / "cpu" / "results.json"
    assert json.loads(archive.read_text())["runs"][0]["identity"]["method_options"]["stages"] == [3, 4, 5]
    capsys.readouterr()
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "again"), "--seeds", "0",
                 "--no-progress", "--restore", str(archive)]) == 0
    printed = capsys.readouterr().out
    assert "restored 1 run folder(s)" in printed and ": trained" not in printed
    assert (tmp_path / "again" / "tiny" / "cpu" / "results.md").read_text() == \
        (first / "tiny" / "cpu" / "results.md").read_text()
