"""The CLI contract: the spellings later issues and user scripts rely on, and clean errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_celeba

from facefair.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "facefair", *args], check=False, capture_output=True, text=True, timeout=600)


def test_every_command_has_help() -> None:
    for cmd in ("datasets", "methods", "prepare", "train", "evaluate", "metrics", "demo"):
        r = run_cli(cmd, "--help")
        assert r.returncode == 0 and "usage: facefair" in r.stdout, cmd


def test_methods_lists_names_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "erm" in names


def test_train_evaluate_metrics_on_synthetic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    code = main(["train", "--dataset", "synthetic", "--target", "smile", "--protected", "group",
                 "--method", "erm", "--arch", "tiny", "--size", "32", "--epochs", "1", "--batch-size", "64",
                 "--seed", "1", "--data-opt", "n_train=256", "--data-opt", "n_val=64", "--data-opt", "n_test=128",
                 "--no-progress", "--out", str(run)])
    assert code == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["seed"] == 1 and cfg["size"] == 32 and cfg["dataset_options"]["n_train"] == 256
    assert main(["evaluate", str(run), "--split", "test", "--bootstrap", "50", "--no-progress"]) == 0
    assert (run / "predictions.csv").is_file() and (run / "metrics.json").is_file()
    capsys.readouterr()
    assert main(["metrics", str(run / "predictions.csv"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metrics"]["accuracy"] == pytest.approx(json.loads((run / "metrics.json").read_text())["metrics"]["accuracy"])
    # --resume of a finished run is a no-op that succeeds; a second run into it without --resume is refused
    assert main(["train", "--resume", "--no-progress", "--out", str(run)]) == 0
    assert main(["train", "--epochs", "1", "--no-progress", "--out", str(run)]) == 2


def test_prepare_then_train_uses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_celeba(tmp_path / "celeba", n=24, as_zip=True)
    monkeypatch.setenv("FACEFAIR_CACHE", str(tmp_path / "cache"))
    r = run_cli("prepare", "--dataset", "celeba", "--root", str(root), "--size", "32", "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "prepared 24 images" in r.stdout
    import os
    env = {**os.environ, "FACEFAIR_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-m", "facefair", "train", "--dataset", "celeba", "--root", str(root),
                        "--target", "Smiling", "--protected", "Male", "--size", "32", "--epochs", "1",
                        "--batch-size", "4", "--no-progress", "--out", str(tmp_path / "run")],
                       check=False, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "using prepared cache" in r.stdout


@pytest.mark.parametrize("args,msg", [
    (["train", "--dataset", "celeb", "--out", "x"], "unknown dataset 'celeb'; did you mean 'celeba'"),
    (["train", "--dataset", "synthetic", "--target", "smiling", "--out", "x"], "did you mean 'smile'"),
    (["train", "--method", "ermm", "--out", "x"], "unknown method 'ermm'; did you mean 'erm'"),
    (["train", "--arch", "resnet19", "--out", "x"], "unknown architecture 'resnet19'"),
    (["evaluate", "nowhere"], "no config.json"),
    (["metrics", "nowhere.csv"], "predictions file not found"),
])
def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path: Path, args: list[str], msg: str) -> None:
    args = [a if a != "x" else str(tmp_path / "x") for a in args]
    r = run_cli(*args)
    assert r.returncode == 2
    assert msg in r.stderr and "Traceback" not in r.stderr


def test_celeba_malformed_line_via_cli(tmp_path: Path) -> None:
    root = write_celeba(tmp_path / "celeba", n=12)
    p = root / "list_attr_celeba.txt"
    lines = p.read_text().splitlines()
    lines[5] = lines[5] + " 1"
    p.write_text("\n".join(lines) + "\n")
    r = run_cli("train", "--dataset", "celeba", "--root", str(root), "--target", "Smiling", "--protected", "Male",
                "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "list_attr_celeba.txt, line 6" in r.stderr and "Traceback" not in r.stderr


def test_failed_start_leaves_no_half_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--method", "nope", "--no-progress", "--out", str(out)]) == 2
    assert not (out / "config.json").exists()


def test_a_usage_mistake_is_one_line_and_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["train"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1  # not the 40-line usage
    assert "facefair train: error: the following arguments are required: --out" in err and "--help" in err
    with pytest.raises(SystemExit):
        main(["train", "--out", "x", "--bf16", "--epochs", "2.5"])
    assert "option epochs must be an integer, got 2.5" in capsys.readouterr().err  # typed at the flag
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for text in ("training epochs (default 5)", "learning rate (default 0.001)", "--bf16, --no-bf16",
                 "--flip, --no-flip", "(default cosine)"):
        assert text in shown, text


def test_ctrl_c_reaches_an_in_process_caller_and_the_console_command_exits_130(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import facefair.cli
    from facefair.cli import evaluation

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "cmd_metrics", interrupted)
    with pytest.raises(KeyboardInterrupt):  # pytest (or any caller) sees Ctrl-C and stops
        main(["metrics", "predictions.csv"])
    monkeypatch.setattr(sys, "argv", ["facefair", "metrics", "predictions.csv"])
    with pytest.raises(SystemExit) as e:
        facefair.cli.entry()
    assert e.value.code == 130 and "interrupted" in capsys.readouterr().err


def test_a_run_folder_is_claimed_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import fcntl
    import os

    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "log.jsonl").write_text("the user's own file\n")
    tiny = ["--data-opt", "n_train=64", "--data-opt", "n_val=32", "--data-opt", "n_test=32", "--size", "32",
            "--epochs", "1", "--no-progress"]
    assert main(["train", *tiny, "--out", str(mine)]) == 2
    assert "holds files that are not a facefair run (log.jsonl)" in capsys.readouterr().err
    assert (mine / "log.jsonl").read_text() == "the user's own file\n" and sorted(os.listdir(mine)) == ["log.jsonl"]

    busy = tmp_path / "busy"  # another process holds the run folder
    busy.mkdir()
    fd = os.open(busy / ".facefair.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert main(["train", *tiny, "--out", str(busy)]) == 2
        assert "another facefair process is using this run folder" in capsys.readouterr().err
        assert not (busy / "config.json").exists()
    finally:
        os.close(fd)  # the holder ends (or is killed): the lock goes with it
    assert main(["train", *tiny, "--out", str(busy)]) == 0 and (busy / "metrics.json").exists() is False
    assert (busy / "config.json").exists()
    assert main(["train", *tiny, "--out", str(mine), "--use-existing-folder"]) == 0  # the user said so
