"""``facefair experiment status``: each step done, running, failed, stopped or to run, read
from the run folders and the table folder's records, with the sequential executor."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tiny_files import TINY

from facefair.cli import main
from facefair.experiments import load_experiment, run_experiment
from facefair.experiments.table import TableFolder


def test_status_follows_a_table_through_a_failure_a_kill_and_the_end(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.replace('method = "domain_independent"', 'method = "domain_independent"\ntrain = { lr = 1e30 }'))
    out = tmp_path / "out"
    args = ["experiment", "status", str(path), "--out", str(out), "--seeds", "0"]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  base-s0: to run", "  asac-s0: to run", "  di-s0: to run", "3 to run of 3 step(s)"]
    with pytest.raises(FloatingPointError):
        run_experiment(load_experiment(path), out, seeds=[0], progress=False)
    capsys.readouterr()
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:3] == ["  base-s0: done", "  asac-s0: done"]
    assert lines[3].startswith("  di-s0: failed (FloatingPointError: loss is ") and f"(on {os.uname().nodename}, " in lines[3]
    assert lines[4].startswith("driver (sequential): ended, on ") and lines[5] == "2 done, 1 failed of 3 step(s)"

    # a record of a process that is gone (killed): stopped, resumable, with the epoch it logged
    table = TableFolder(out / "tiny" / "cpu")
    (out / "tiny" / "cpu" / "base-s0" / "metrics.json").unlink()
    table.record("base-s0", "running", kind="run")
    record = table.read("base-s0")
    table.record("base-s0", "running", kind="run", pid=2 ** 22 + 17)  # no such process
    assert main(args) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.startswith(f"  base-s0: stopped (was on {record['host']} (pid {2 ** 22 + 17}) since ")
    assert line.endswith("its process is gone, epoch 2/2 logged: it resumes when the table runs again)")
    table.record("base-s0", "running", kind="run")  # this process: alive
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(f"  base-s0: running (on {record['host']} (pid {os.getpid()}) since ")
    table.clear("base-s0")
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[1] == "  base-s0: stopped (cut short, epoch 2/2 logged: it resumes when the table runs again)"
