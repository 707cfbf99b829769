"""Planning an experiment: every repository file plans at every scale, --set, --runs and --grid keep what they name."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from tiny_files import MANIFEST_CROSS, TINY

from facefair.cli import main
from facefair.errors import ConfigError
from facefair.experiments import find_experiments, load_experiment, plan, run_experiment
from facefair.experiments.identity import identity


def test_every_repository_experiment_plans_at_both_scales(tmp_path: Path) -> None:
    found = find_experiments()
    assert {"asac_table1", "asac_table3", "asac_table4", "asac_table5", "asac_table6",
            "fineface_table2", "fineface_table3", "fineface_table6", "fineface_table7"} <= set(found)
    for name, path in found.items():
        exp = load_experiment(path)
        assert len(exp.seeds) >= 3, name  # every result from at least 3 seeds
        for scale in ("cpu", "gpu", "pretrained", "full"):
            if scale in ("pretrained", "full") and scale not in exp.scales:
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
                assert (cfg.arch, cfg.pretrained, cfg.requested_precision()) == ("efficientnet_lite0", "imagenet", "auto"), name
    # the full scale: the pretrained recipe on every image, epochs by early stopping, and ASAC
    # Table 1's bases are FineFACE Table 6's baselines (one config, so the runner trains it once)
    full = {name: plan(load_experiment(found[name]), "full", tmp_path, tmp_path / "data", seeds=[1],
                       only={"target": ["Smiling"]}) for name in ("asac_table1", "fineface_table6")}
    base, erm = full["asac_table1"][0], full["fineface_table6"][0]
    assert (base.run_id, erm.run_id) == ("base", "erm") and identity(base.config()) == identity(erm.config())
    cfg = base.config()
    assert (cfg.arch, cfg.size, cfg.max_train, cfg.max_val, cfg.epochs, cfg.patience, cfg.schedule) == \
        ("efficientnet_lite0", 96, None, None, 4, 1, "constant")
    pretrained = plan(load_experiment(found["fineface_table6"]), "pretrained", tmp_path, tmp_path / "data",
                      seeds=[1], only={"target": ["Smiling"]}, runs=["fineface"])[0].config()
    fineface = next(p for p in full["fineface_table6"] if p.run_id == "fineface").config()
    assert fineface.method_options == pretrained.method_options and fineface.weight_decay == 0.0  # the run's pretrained table
    ermft = next(p for p in full["asac_table1"] if p.run_id == "ermft")
    assert ermft.overrides["epochs"] == 1 and ermft.base == base.folder
    assert {p.run_id for p in full["fineface_table6"] if p.method == "postprocess"} == {"erm_pp_eo", "fineface_pp_eo"}
    t1 = plan(load_experiment(found["asac_table1"]), "cpu", tmp_path, tmp_path)
    assert {p.overrides.get("target") for p in t1} == {"Smiling", "Big_Nose", "Wavy_Hair"}
    assert len(load_experiment(found["fineface_table6"]).grid["target"]) == 13
    cross = plan(load_experiment(found["fineface_table3"]), "cpu", tmp_path, tmp_path / "data")[0].cross
    assert {c.dataset for c in cross} == {"celeba", "utkface", "manifest"}
    assert all(Path(c.root or c.manifest).is_relative_to(tmp_path / "data") for c in cross)


def test_set_overrides_every_run_and_refuses_what_it_cannot_mean(tmp_path: Path, capsys) -> None:
    from facefair.options import parse_kv

    assert [parse_kv([x], "--set") for x in ("bf16=false", "epochs=1", "lr=0.01", "arch=resnet50", 'arch="tiny"')] == [
        {"bf16": False}, {"epochs": 1}, {"lr": 0.01}, {"arch": "resnet50"}, {"arch": "tiny"}]
    for bad in ("bf16", "=1", "bf16="):
        with pytest.raises(ConfigError, match="--set takes KEY=VALUE"):
            parse_kv([bad], "--set")
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
                          ({"bf16": "yes"}, "option bf16 must be true or false or none, got 'yes' in --set"),
                          ({"epochs": 3.5}, "option epochs must be an integer, got 3.5"),
                          ({"seed": 3}, "use --seeds"), ({"target": "x"}, "use --grid")):
        if message == "use --grid":
            exp = dataclasses.replace(exp, grid={"target": ("smile",)})
        with pytest.raises(ConfigError, match=message):
            plan(exp, "cpu", out, tmp_path, sets=sets)


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

""" + MANIFEST_CROSS + """
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
    # the file changes the entry's split: the evaluation is made again, not kept as done
    first = json.loads((out / "tiny" / "cpu" / "smile" / "base-s0" / "metrics-on-mine.json").read_text())
    path.write_text(text.replace('name = "on-mine"', 'name = "on-mine"\nsplit = "all"'))
    assert main(["experiment", "run", str(path), "--out", str(out), "--data", str(data), "--grid", "target=smile",
                 "--seeds", "0", "--no-progress"]) == 0
    assert "made for another split" in capsys.readouterr().out
    again = json.loads((out / "tiny" / "cpu" / "smile" / "base-s0" / "metrics-on-mine.json").read_text())
    assert (first["split"], again["split"]) == ("test", "all")
    assert "tested on manifest all" in (out / "tiny" / "cpu" / "results.md").read_text()


def test_a_huge_grid_is_a_question_not_a_start(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text(TINY + "\n[grid]\nsize = [" + ", ".join(str(s) for s in range(16, 1016)) + "]\n")
    exp = load_experiment(path)
    with pytest.raises(ConfigError, match=r"this plan has 6,000 runs \(2 seeds x 1000 size x 3 \[\[run\]\]s\), "
                                          r"more than 2,000; .* --yes"):
        plan(exp, "cpu", tmp_path / "out", tmp_path)
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    assert len(plan(exp, "cpu", tmp_path / "out", tmp_path, limit=None)) == 6000  # asked for: planned
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "out"), "--dry-run", "--yes",
                 "--grid", "size=16", "--seeds", "0"]) == 0
