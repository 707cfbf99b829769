"""Hostile input: any text gives a parsed result or a clear error naming the file, never a traceback.

Property-based (Hypothesis) over every table facefair reads: CelebA's attribute and partition
files, FairFace's label CSV, CSV manifests and the predictions CSV of ``facefair metrics``;
then a corpus of broken real-format files, each with the error it must give.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import jpeg_bytes, write_celeba
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facefair.cli import main
from facefair.data.celeba import parse_attributes, parse_partition
from facefair.data.fairface import read_label_csv
from facefair.data.manifest import load_manifest
from facefair.errors import DataError, FaceFairError
from facefair.metrics import read_predictions

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Lines that look like each format's, mixed with noise, so that examples get past the header.
TOKENS = st.sampled_from(["1", "-1", "0", "2", "", " ", ",", "a.jpg", "b.jpg", "imgs/0.jpg", "../x.jpg",
                          "/etc/passwd", "Male", "Smiling", "y", "pred", "group", "score", "id", "file",
                          "gender", "race", "age", "service_test", "image", "split", "train", "test",
                          "\ufeff", "\"", "\"\"", "nan", "inf", "1e3", "\x00", "é", "\t"])
LINE = st.lists(st.one_of(TOKENS, st.text(max_size=6)), max_size=8).map(" ".join)
CSV_LINE = st.lists(st.one_of(TOKENS, st.text(max_size=6)), max_size=8).map(",".join)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def files(draw: st.DrawFn, line: st.SearchStrategy[str], headers: list[str]) -> bytes:
    """A file's bytes: a plausible header (or not), lines of tokens and noise, odd endings, a
    BOM, or plain binary."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    lines = [draw(st.sampled_from(headers))] if draw(st.booleans()) else []
    lines += draw(st.lists(line, max_size=12))
    text = draw(ENDINGS).join(lines) + draw(st.sampled_from(["", "\n"]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text.encode("utf-8", "surrogatepass") if draw(st.booleans()) else text.encode("utf-8", "replace")


def parses_or_clean_error(fn: Callable[[Path], Any], data: bytes, name: str) -> Any:
    """``fn`` on a file holding ``data``: its result, or None after a FaceFairError naming it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        (Path(tmp) / "imgs").mkdir()
        (Path(tmp) / "imgs" / "0.jpg").write_bytes(jpeg_bytes(0, 8, 8))
        try:
            return fn(path)
        except FaceFairError as e:
            assert name in str(e), f"the error does not name the file: {e}"
            return None


@SETTINGS
@given(files(LINE, ["3", "2\nMale Smiling", "1\nMale"]))
def test_celeba_attribute_file_fuzz(data: bytes) -> None:
    out = parses_or_clean_error(parse_attributes, data, "list_attr_celeba.txt")
    if out is not None:
        names, attrs, mat = out
        assert mat.shape == (len(names), len(attrs)) and set(np.unique(mat)) <= {0, 1}
        assert len(set(names)) == len(names)


@SETTINGS
@given(files(LINE, ["a.jpg 0", "b.jpg 2"]))
def test_celeba_partition_file_fuzz(data: bytes) -> None:
    out = parses_or_clean_error(parse_partition, data, "list_eval_partition.txt")
    if out is not None:
        assert set(out.values()) <= {0, 1, 2}


@SETTINGS
@given(files(CSV_LINE, ["file,age,gender,race,service_test", "file,age,gender,race"]))
def test_fairface_label_csv_fuzz(data: bytes) -> None:
    out = parses_or_clean_error(read_label_csv, data, "fairface_label_train.csv")
    if out is not None:
        assert all(r["file"] and r["gender"] and r["race"] and r["age"] for r in out)
        assert len({r["file"] for r in out}) == len(out)


@SETTINGS
@given(files(CSV_LINE, ["image,y,g", "image,y,g,split", "path,smile"]))
def test_manifest_fuzz(data: bytes) -> None:
    out = parses_or_clean_error(load_manifest, data, "m.csv")
    if out is not None:  # only the one real image can have been accepted, inside the root
        assert list(out.ids) == ["imgs/0.jpg"]


@SETTINGS
@given(files(CSV_LINE, ["y,pred,group", "id,y,pred,group,score", "y,pred"]))
def test_predictions_csv_fuzz(data: bytes) -> None:
    out = parses_or_clean_error(read_predictions, data, "preds.csv")
    if out is not None:
        assert len(out.y) == len(out.pred) == len(out.group) > 0
        assert set(out.y) <= {0, 1} and set(out.pred) <= {0, 1}


@SETTINGS
@given(files(CSV_LINE, ["y,pred,group", "id,y,pred,group,score"]))
def test_metrics_command_fuzz(data: bytes) -> None:
    """The CLI on arbitrary text: exit 0 with a table, or exit 2 with one line naming the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "preds.csv"
        path.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(["metrics", str(path), "--bootstrap", "0"])
        assert rc in (0, 2)
        if rc == 2:
            assert err.getvalue().startswith("facefair metrics: error: ") and "preds.csv" in err.getvalue()
        else:
            assert "accuracy" in out.getvalue()


# -- a corpus of broken real-format files ---------------------------------------------------
def parse_corpus(path: Path, parse: Callable[[Path], Any], text: str, ok: bool | str) -> Any:
    """Write ``text`` byte for byte; parse it (``ok`` True) or expect the error ``ok`` after the name."""
    path.write_text(text, newline="")
    if ok is True:
        return parse(path)
    with pytest.raises(DataError, match=f"{re.escape(path.name)}, {ok}"):
        parse(path)
    return None


CELEBA_OK = "3\nMale Smiling\n000001.jpg -1  1\n000002.jpg  1 -1\n000003.jpg  1  1\n"


@pytest.mark.parametrize("text,ok", [
    ("\ufeff" + CELEBA_OK, True),                                     # BOM
    (CELEBA_OK.replace("\n", "\r\n"), True),                          # CRLF line ends
    (CELEBA_OK.replace("000002.jpg  1 -1", "000002.jpg  1"), "line 4: expected an image name and 2"),
    (CELEBA_OK.replace("000002.jpg  1 -1", "000002.jpg  1 yes"), "line 4: attribute values must be -1 or 1"),
    (CELEBA_OK.replace("000003.jpg", "000001.jpg"), "line 5: duplicate image name '000001.jpg'"),
    (CELEBA_OK[:-17], "line 1: line 1 announces 3 rows but the file has 2"),  # truncated at a line
    (CELEBA_OK[:-12], "line 5: expected an image name and 2 values, found 1"),  # truncated mid-line
])
def test_celeba_attribute_corpus(tmp_path: Path, text: str, ok: bool | str) -> None:
    out = parse_corpus(tmp_path / "list_attr_celeba.txt", parse_attributes, text, ok)
    if out is not None:
        names, attrs, mat = out
        assert names == ["000001.jpg", "000002.jpg", "000003.jpg"] and attrs == ["Male", "Smiling"]
        assert mat.tolist() == [[0, 1], [1, 0], [1, 1]]


@pytest.mark.parametrize("text,ok", [
    ("\ufeffa.jpg 0\r\nb.jpg 2\r\n", True),
    ("a.jpg 0\nb.jpg x\n", "line 2: expected '<image> <0|1|2>'"),
    ("a.jpg 0\nb.jpg 1 1\n", "line 2: expected"),
    ("a.jpg 0\na.jpg 1\n", "line 2: duplicate image name 'a.jpg'"),
])
def test_celeba_partition_corpus(tmp_path: Path, text: str, ok: bool | str) -> None:
    out = parse_corpus(tmp_path / "list_eval_partition.txt", parse_partition, text, ok)
    assert out in (None, {"a.jpg": 0, "b.jpg": 2})
    assert (out is None) == (ok is not True)


FAIRFACE_OK = "file,age,gender,race,service_test\ntrain/1.jpg,20-29,Male,White,True\ntrain/2.jpg,3-9,Female,Black,False\n"


@pytest.mark.parametrize("text,ok", [
    ("\ufeff" + FAIRFACE_OK, True),
    (FAIRFACE_OK.replace("\n", "\r\n"), True),
    (FAIRFACE_OK.replace(",True\n", "\n"), "line 2: expected 5 columns, found 4"),
    (FAIRFACE_OK.replace("train/2.jpg", "train/1.jpg"), "line 3: duplicate file 'train/1.jpg'"),
    (FAIRFACE_OK.replace("Female", ""), "line 3: empty value in column 'gender'"),
    ("file,age,gender\ntrain/1.jpg,20-29,Male\n", "line 1: missing column 'race'"),
])
def test_fairface_label_corpus(tmp_path: Path, text: str, ok: bool | str) -> None:
    rows = parse_corpus(tmp_path / "fairface_label_train.csv", read_label_csv, text, ok)
    if rows is not None:
        assert [r["file"] for r in rows] == ["train/1.jpg", "train/2.jpg"] and rows[1]["race"] == "Black"


PREDS_OK = "id,y,pred,group,score\na,1,1,A,0.9\nb,0,1,B,0.6\nc,1,0,B,0.2\n"


@pytest.mark.parametrize("text,ok", [
    ("\ufeff" + PREDS_OK, True),
    (PREDS_OK.replace("\n", "\r\n"), True),
    (PREDS_OK.replace("b,0,1,B,0.6", "b,0,1,B"), "line 3: expected 5 columns, found 4"),
    (PREDS_OK.replace("b,0,1,B", "b,no,1,B"), "line 3: column 'y' must be 0 or 1, got 'no'"),
    (PREDS_OK.replace("c,1,0", "a,1,0"), "line 4: duplicate id 'a' \\(first on line 2\\)"),
    (PREDS_OK.replace("0.6", "high"), "line 3: column 'score' must be a number"),
])
def test_predictions_corpus(tmp_path: Path, text: str, ok: bool | str) -> None:
    p = parse_corpus(tmp_path / "preds.csv", lambda path: read_predictions(path, keep_ids=True), text, ok)
    if p is not None:
        assert p.y.tolist() == [1, 0, 1] and p.pred.tolist() == [1, 1, 0] and list(p.ids) == ["a", "b", "c"]


@pytest.mark.parametrize("row,msg", [
    ("../outside.jpg,1,a", "leaves the dataset root"),
    ("imgs/../../outside.jpg,1,a", "leaves the dataset root"),
    ("{outside},1,a", "leaves the dataset root"),  # an absolute path
    ("imgs/0.jpg,1,a", "duplicate image 'imgs/0.jpg' \\(first on line 2\\)"),
])
def test_manifest_paths_stay_inside_the_root(tmp_path: Path, row: str, msg: str) -> None:
    (tmp_path / "outside.jpg").write_bytes(jpeg_bytes(1))
    d = tmp_path / "ds"
    (d / "imgs").mkdir(parents=True)
    (d / "imgs" / "0.jpg").write_bytes(jpeg_bytes(0))
    (d / "m.csv").write_text("image,y,g\r\nimgs/0.jpg,0,b\r\n" + row.format(outside=tmp_path / "outside.jpg") + "\r\n")
    with pytest.raises(DataError, match=rf"m\.csv, line 3: .*{msg}"):
        load_manifest(d / "m.csv")
    if "leaves" in msg:  # allowed explicitly, the same file is read
        data = load_manifest(d / "m.csv", allow_outside_root=True)
        assert len(data.ids) == 2 and data.store.load(str(data.ids[1]), 8).shape == (8, 8, 3)


@pytest.mark.parametrize("damage,msg", [
    (lambda b: b[: len(b) // 3], "corrupt or unreadable image"),   # truncated JPEG
    (lambda b: b"", "empty image file \\(0 bytes\\)"),               # zero-byte image
    (lambda b: b"GIF89a" + b[:40], "not an image in a supported format"),  # not what it says
])
def test_broken_images_stop_prepare_naming_the_file(tmp_path: Path, damage: Callable[[bytes], bytes],
                                                   msg: str) -> None:
    root = write_celeba(tmp_path / "celeba", n=12)
    img = root / "img_align_celeba" / "000005.jpg"
    img.write_bytes(damage(img.read_bytes()))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["prepare", "--dataset", "celeba", "--root", str(root), "--size", "16",
                   "--out", str(tmp_path / "cache"), "--no-progress"])
    assert rc == 2 and "000005.jpg" in err.getvalue()
    assert msg.replace("\\", "") in err.getvalue().replace("\\", "")
    assert not (tmp_path / "cache" / "meta.json").exists()  # no half-made cache left as valid

