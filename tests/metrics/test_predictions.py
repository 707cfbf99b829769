"""The predictions CSV: round trip, clear errors with line numbers, and the torch-free CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facefair.cli import main
from facefair.errors import DataError
from facefair.metrics import fairness_report, read_predictions, write_predictions


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def test_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    group = np.where(rng.random(50) < 0.5, "Male", "not Male")
    write_predictions(tmp_path / "p.csv", [f"{i}.jpg" for i in range(50)], y, group, rng.random(50), pred)
    back = read_predictions(tmp_path / "p.csv", keep_ids=True)
    assert (back.y == y).all() and (back.pred == pred).all() and (back.group == group).all()
    assert back.ids[3] == "3.jpg" and back.score is not None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_read_back_exactly_so_tiny_scores_keep_their_ranking(tmp_path: Path, dtype: type) -> None:
    # A confident model's scores for the negative class sit far below 1e-6; written with fixed
    # decimals they all became 0.000000 and the AUC computed from the file dropped.
    rng = np.random.default_rng(1)
    score = np.concatenate([rng.random(20) * 1e-7, rng.random(20) * 1e-3 + 1e-6]).astype(dtype)
    y = np.array([0] * 20 + [1] * 20)
    y[::7] = 1 - y[::7]  # some overlap, so the AUC is neither 0 nor 1
    pred = (score > 0.5).astype(int)
    group = np.array(["a", "b"] * 20)
    write_predictions(tmp_path / "p.csv", [str(i) for i in range(40)], y, group, score, pred)
    back = read_predictions(tmp_path / "p.csv")
    assert np.array_equal(back.score.astype(dtype), score)  # the same float in its own precision
    assert len(np.unique(back.score)) == 40  # no ties made by writing


def test_bom_crlf_and_intersections(tmp_path: Path) -> None:
    p = write(tmp_path / "p.csv", "\ufeffy,pred,race,gender\n1,1,White,M\n0,1,Black,F\n1,0,White,F\n0,0,Black,M\n",
              newline="\r\n")
    preds = read_predictions(p, ["race", "gender"])
    assert list(preds.group) == ["White|M", "Black|F", "White|F", "Black|M"]


@pytest.mark.parametrize("body,line,msg", [
    ("y,group,pred\n1,a,1\n0,b\n", 3, "expected 3 columns, found 2"),
    ("y,group,pred\n1,a,1\n2,b,0\n", 3, "must be 0 or 1"),
    ("y,group,pred\n1,a,1\nyes,b,0\n", 3, "must be 0 or 1"),
    ("y,group,pred,score\n1,a,1,0.5\n1,b,0,high\n", 3, "'score' must be a number"),
])
def test_malformed_line_names_file_and_line(tmp_path: Path, body: str, line: int, msg: str) -> None:
    p = write(tmp_path / "bad.csv", body)
    with pytest.raises(DataError, match=rf"bad\.csv, line {line}: .*{msg}"):
        read_predictions(p)


def test_missing_column_suggests_closest(tmp_path: Path) -> None:
    p = write(tmp_path / "p.csv", "y,groups,pred\n1,a,1\n")
    with pytest.raises(Exception, match="did you mean 'groups'"):
        read_predictions(p)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_predictions(tmp_path / "none.csv")
    with pytest.raises(DataError, match="empty predictions file"):
        read_predictions(write(tmp_path / "e.csv", ""))
    with pytest.raises(DataError, match="no prediction rows"):
        read_predictions(write(tmp_path / "h.csv", "y,group,pred\n"))


def test_cli_metrics_json_matches_library(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    y, pred = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    group = rng.choice(["A", "B", "C"], 400)
    write_predictions(tmp_path / "p.csv", [str(i) for i in range(400)], y, group, rng.random(400), pred)
    assert main(["metrics", str(tmp_path / "p.csv"), "--json", "--bootstrap", "200"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = fairness_report(y, pred, group).overall
    for k, v in ref.items():
        assert out["metrics"][k] == pytest.approx(v)
    assert set(out["ci"]) == set(ref) and len(out["groups"]) == 3


def test_cli_metrics_bad_input_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path / "one.csv", "y,group,pred\n1,a,1\n0,a,0\n")
    assert main(["metrics", str(p)]) == 2
    err = capsys.readouterr().err
    assert "only one protected group" in err and "one.csv" in err and "Traceback" not in err


def test_cli_metrics_needs_no_torch(tmp_path: Path) -> None:
    p = write(tmp_path / "p.csv", "y,group,pred\n1,a,1\n0,b,1\n1,b,0\n0,a,0\n")
    code = ("import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
            "from facefair.cli import main\n"
            f"sys.exit(main(['metrics', {str(p)!r}, '--json']))")
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metrics"]["accuracy"] == 0.5
