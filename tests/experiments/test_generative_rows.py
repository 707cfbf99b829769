"""Experiment rows that read a generator: the file's [generator] is checked, trained once
before the first run that names "@generator", shared by every seed, and "@<run id>" names that
run's folder of the same seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_files import GENERATIVE, TINY

from facefair.errors import ConfigError
from facefair.experiments import load_experiment, plan, run_experiment


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gen.toml"
    path.write_text(text)
    return path


def test_references_resolve_to_the_generator_and_the_same_seeds_run(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path, GENERATIVE))
    planned = {(p.run_id, p.seed): p for p in plan(exp, "cpu", tmp_path / "out", tmp_path)}
    gan = planned[("gan", 1)]
    assert gan.options["labeler_run"] == str(planned[("base", 1)].folder)
    assert gan.options["generator"] == str(tmp_path / "out" / "tiny" / "cpu" / "generator")
    assert gan.generator is not None and gan.generator[1].epochs == 1 and gan.generator[1].width == 8
    assert planned[("base", 0)].generator is None
    # --runs gan plans the base it names
    assert {p.run_id for p in plan(exp, "gpu", tmp_path / "out", tmp_path, runs=["gan"])} == {"base", "gan"}
    assert plan(exp, "gpu", tmp_path / "out", tmp_path)[1].generator[1].epochs == 5


def test_a_set_dataset_is_the_generators_dataset_too(tmp_path: Path) -> None:
    """Another dataset by --set (Table 5's rows on CelebA): the runs and their generator read
    it, its root relative to the data folder as the file's root is."""
    exp = load_experiment(write(tmp_path, GENERATIVE))
    sets = {"dataset": "celeba", "root": "faces", "target": "Smiling", "protected": "Male"}
    planned = plan(exp, "cpu", tmp_path / "out", tmp_path / "data", sets=sets)
    gen = planned[0].generator or planned[1].generator
    assert gen is not None and gen[1].dataset == "celeba" and gen[1].root == str(tmp_path / "data" / "faces")
    assert {p.overrides["root"] for p in planned if p.base is None} == {str(tmp_path / "data" / "faces")}
    assert sets["root"] == "faces"  # the caller's record of what was set is left as given


@pytest.mark.parametrize("text, message", [
    (TINY + '\n[[run]]\nid = "g"\nmethod = "gsmote"\noptions = { generator = "@generator" }\n', "has no \\[generator\\]"),
    (GENERATIVE.replace('labeler_run = "@base"', 'labeler_run = "@later"'), "'@later', which must be an earlier"),
    (GENERATIVE.replace("size = 32\nlatent_dim", "dataset = \"celeba\"\nlatent_dim"), "dataset come"),
    (GENERATIVE.replace("width = 8\n", "width = \"wide\"\n"), "width must be an integer"),
    (GENERATIVE.replace("[generator]", '[grid]\ndataset = ["synthetic"]\n\n[generator]'), "cannot serve a grid over dataset"),
])
def test_generator_mistakes_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_experiment(write(tmp_path, text))


def test_the_generator_is_trained_once_and_shared_by_the_seeds(tmp_path: Path) -> None:
    out = tmp_path / "out"
    exp = load_experiment(write(tmp_path, GENERATIVE))
    run_experiment(exp, out, progress=False, runs=["gsmote"])
    gen = out / "tiny" / "cpu" / "generator"
    assert (gen / "checkpoints" / "generator.pt").is_file()
    stamp = (gen / "checkpoints" / "generator.pt").stat().st_mtime_ns
    for seed in (0, 1):
        cfg = json.loads((out / "tiny" / "cpu" / f"gsmote-s{seed}" / "config.json").read_text())
        assert cfg["method_options"]["generator"] == str(gen)
        assert (out / "tiny" / "cpu" / f"gsmote-s{seed}" / "metrics.json").is_file()
    assert "g-SMOTE" in (out / "tiny" / "cpu" / "results.md").read_text()
    run_experiment(exp, out, progress=False, runs=["gsmote"])  # done: nothing retrained
    assert (gen / "checkpoints" / "generator.pt").stat().st_mtime_ns == stamp


def test_a_dry_run_lists_the_generator_and_its_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from facefair.cli import main

    path = write(tmp_path, GENERATIVE)
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "out"), "--dry-run", "--seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'out' / 'tiny' / 'cpu' / 'generator'}  generator  [to train]" in out
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_generative_rows_restore_elsewhere_without_their_generator(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path, GENERATIVE.replace("seeds = [0, 1]", "seeds = [0]")))
    run_experiment(exp, tmp_path / "a", progress=False, runs=["gsmote"])
    archive = tmp_path / "a" / "tiny" / "cpu" / "results.json"
    run_experiment(exp, tmp_path / "b", progress=False, runs=["gsmote"], restore=[archive])
    restored = tmp_path / "b" / "tiny" / "cpu"
    assert (restored / "gsmote-s0" / "metrics.json").is_file()
    assert not (restored / "generator").exists()  # nothing trained: the rows came from the archive
    assert (restored / "results.md").read_text().split("Seeds")[1] == \
        (tmp_path / "a" / "tiny" / "cpu" / "results.md").read_text().split("Seeds")[1]
