"""Reading an experiment file: every key of every table checked with its type; a mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_files import TINY

from facefair.errors import ConfigError
from facefair.experiments import load_experiment


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('[[run]]\nid = "base"', '[[run]]\nid = "base"\ncolour = "red"'), "unknown key"),
    (lambda t: t.replace('from = "base"', 'from = "di"'), "must name an earlier run"),
    (lambda t: t.replace('id = "di"', 'id = "base"'), "appears twice"),
    (lambda t: t.replace('layout = "asac"', 'layout = "pie"'), "layout must be one of"),
    (lambda t: t.replace("[scale.gpu]", "[scale.tpu]"), "scales are"),
    (lambda t: t.replace("[scale.gpu]", '[scale.gpu]\nextends = "pretrained"'), r"\[scale.gpu\] extends 'pretrained': the file has no \[scale.pretrained\]"),
    (lambda t: t.replace("[scale.gpu]", '[scale.gpu]\nextends = "cpu"').replace("[scale.cpu]", '[scale.cpu]\nextends = "gpu"'), r"a circle \(cpu -> gpu -> cpu\)"),
    (lambda t: t.replace("[scale.cpu]\nepochs = 2", '[scale.cpu]\nepochs = 2\nmax_train = "some"'), r"\[scale.cpu\]: option max_train must be"),
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
    (lambda t: t.replace('description = "synthetic faces, tiny CNN"', 'description = "caf\xe9"').encode("latin-1"), "not valid TOML"),
    # names that become folders cannot leave --out
    (lambda t: t.replace('name = "tiny"', 'name = "../../elsewhere"'), r"\[experiment\] name '../../elsewhere' names a folder"),
    (lambda t: t.replace('id = "di"', 'id = "/tmp/di"'), "run 3 id '/tmp/di' names a folder"),
    (lambda t: t + '\n[grid]\ntarget = ["smile", ".."]\n', r"\[grid\] target value '..' names a folder"),
])
def test_bad_experiment_files_name_file_and_key(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "bad.toml"
    text = edit(TINY)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=message) as e:
        load_experiment(path)
    assert str(path) in str(e.value)


def test_a_scale_extends_another_with_each_runs_options(tmp_path: Path) -> None:
    """[scale.full] extends = "cpu": the file's cpu options under its own, and each run's cpu
    table where the run has no full one; "all" lifts a subset cap."""
    path = tmp_path / "full.toml"
    path.write_text(TINY.replace("[scale.gpu]", '[scale.full]\nextends = "cpu"\nmax_train = "all"\nsize = 40\n\n[scale.gpu]')
                    .replace("[scale.cpu]\nepochs = 2", "[scale.cpu]\nepochs = 2\nmax_train = 100"))
    exp = load_experiment(path)
    assert exp.scales["full"] == {"epochs": 2, "max_train": None, "size": 40}
    assert exp.scales["cpu"] == {"epochs": 2, "max_train": 100}
    asac = exp.run("asac")
    assert asac.trainer_options("full") == {"epochs": 1} and asac.method_options("full") == {"probe_epochs": 2}
    path.write_text(path.read_text().replace("cpu = { epochs = 1 }", "cpu = { epochs = 1 }\nfull = { epochs = 3 }"))
    assert load_experiment(path).run("asac").trainer_options("full") == {"epochs": 3}  # its own table wins
