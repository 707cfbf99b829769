"""The plan as a dependency graph: what each step needs, the levels (how many can go at once)
and the critical path; the dry run that prints them; the Ray executor asked for without Ray."""

from __future__ import annotations

import sys
from pathlib import Path

from tiny_files import GENERATIVE, RAY_GRID

from facefair.cli import main
from facefair.experiments import load_experiment, plan
from facefair.experiments.graph import critical_path, levels, steps


def _graph(text: str, tmp_path: Path, split_cross: bool = True):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "g.toml"
    path.write_text(text)
    out = tmp_path / "out"
    return steps(plan(load_experiment(path), "cpu", out, tmp_path / "data"), split_cross), out / "tiny" / "cpu"


def test_each_step_needs_what_it_reads(tmp_path: Path) -> None:
    graph, table = _graph(RAY_GRID, tmp_path)
    by = {(s.kind, s.folder.name, s.cross.file() if s.cross else None): s for s in graph}
    assert len(graph) == 2 * (4 + 4 + 1)  # per seed: 4 runs, 4 cross evaluations, 1 chosen row
    assert by["run", "asac-s0", None].needs == (str(table / "base-s0"),)
    assert by["run", "base-s0", None].needs == ()
    assert by["choice", "reg-s1", None].needs == tuple(str(table / f) for f in ("w1-s1", "w0-s1", "base-s1"))
    assert by["cross", "w0-s0", "metrics-on-mine.json"].needs == (str(table / "w0-s0"),)
    seen: set[str] = set()
    for s in graph:  # every step after what it needs
        assert set(s.needs) <= seen
        seen.add(s.key)
    # the sequential runner's steps: runs with their cross evaluations inside, no generator step
    inline, _ = _graph(RAY_GRID, tmp_path, split_cross=False)
    assert [s.kind for s in inline].count("cross") == 0 and all(s.inline_cross for s in inline if s.kind == "run")


def test_levels_and_critical_path_of_a_fine_tune_chain_and_a_generator(tmp_path: Path) -> None:
    graph, _ = _graph(RAY_GRID, tmp_path)
    lv = levels(graph)
    assert [sorted(s.folder.name for s in level if s.kind == "run") for level in lv][:2] == [
        ["base-s0", "base-s1", "w0-s0", "w0-s1", "w1-s0", "w1-s1"], ["asac-s0", "asac-s1"]]
    assert [s.kind for s in lv[2]] == ["cross", "cross"]  # the fine-tunes' evaluations come last
    path = critical_path(graph)
    assert [s.kind for s in path] == ["run", "run", "cross"] and path[1].folder.name.startswith("asac")
    # a labeller named by run id ("@base") and the generator are inputs too
    gen, table = _graph(GENERATIVE, tmp_path / "gen")
    gan = next(s for s in gen if s.folder.name == "gan-s0")
    assert gan.needs == (str(table / "generator"), str(table / "base-s0"))
    assert sorted(s.kind for s in levels(gen)[0]) == ["generator", "run", "run"]  # the generator, base-s0, base-s1
    assert critical_path(gen)[0].folder.name in ("generator", "base-s0")


def test_dry_run_with_the_ray_executor_prints_levels_and_critical_path(tmp_path: Path, capsys) -> None:
    path = tmp_path / "g.toml"
    path.write_text(RAY_GRID)
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "out"), "--dry-run",
                 "--executor", "ray", "--cpus-per-run", "2"]) == 0
    printed = capsys.readouterr().out
    assert "as Ray tasks (Ray started on this machine; 2 CPU(s) and 0 GPU(s) a run), by dependency level:" in printed
    assert "  level 0: 6 step(s) can run at once (6 runs)" in printed
    assert "  level 1: 8 step(s) can run at once (2 runs, 6 cross evaluations, 2 chosen rows)" in printed
    assert "  critical path: 3 step(s) one after another: base-s0 -> asac-s0 -> asac-s0 (metrics-on-mine.json)" in printed
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
    # the GPU scale asks one GPU a run unless told
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "out"),
                 "--dry-run", "--executor", "ray", "--scale", "gpu"]) == 0
    assert "1 CPU(s) and 1 GPU(s) a run" in capsys.readouterr().out


def test_the_ray_executor_without_ray_is_one_line_naming_the_extra(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "g.toml"
    path.write_text(RAY_GRID)
    monkeypatch.setitem(sys.modules, "ray", None)  # as where the extra is not installed
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "out"), "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert err == 'facefair experiment: error: the Ray executor needs Ray: pip install "facefair[ray]"\n'
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "out"), "--cpus-per-run", "2"]) == 2
    assert "--cpus-per-run and --gpus-per-run are options of --executor ray" in capsys.readouterr().err
