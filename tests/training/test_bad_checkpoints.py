"""Checkpoints a careless user or a full disk leaves behind end in one line naming the file,
not a traceback: an empty file, another architecture's state, state with keys missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from facefair.cli import main

TINY = ["--data-opt", "n_train=64", "--data-opt", "n_val=32", "--data-opt", "n_test=32", "--size", "32",
        "--epochs", "1", "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", *TINY, "--epochs", "2", "--out", str(out)]) == 0
    return out


def test_an_empty_checkpoint_is_one_line(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "checkpoints" / "best.pt").write_bytes(b"")
    assert main(["evaluate", str(copy), "--no-progress", "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{copy / 'checkpoints' / 'best.pt'}: not a readable facefair checkpoint" in err


@pytest.mark.parametrize("damage, message", [
    (lambda ck, other: {**ck, "model": other["model"], "optimizer": other["optimizer"]},
     "does not fit this run's model and optimizer"),
    (lambda ck, other: {k: v for k, v in ck.items() if k != "rng"}, "not a facefair checkpoint: expected keys"),
])
def test_a_foreign_last_pt_on_resume_is_one_line(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   damage, message: str) -> None:
    other = tmp_path / "other"  # another architecture's run
    assert main(["train", *TINY, "--arch", "resnet18", "--out", str(other)]) == 0
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    last = copy / "checkpoints" / "last.pt"
    ck = torch.load(last, weights_only=True)
    ck["epoch"] = 1  # as if cut after the first of two epochs
    torch.save(damage(ck, torch.load(other / "checkpoints" / "last.pt", weights_only=True)), last)
    capsys.readouterr()
    assert main(["train", *TINY, "--resume", "--out", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(last) in err and message in err
