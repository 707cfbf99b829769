"""Atomic writes: an error halfway leaves the old file whole and no temporary behind."""

import json

import pytest

from facefair.atomic import atomic_open, write_json, write_text
from facefair.checkpoint import load_checkpoint, save_atomic


def test_write_text_and_json_replace_the_file(tmp_path):
    p = tmp_path / "sub" / "a.json"  # the parent folder is made
    write_text(p, "old")
    assert p.read_text() == "old"
    write_json(p, {"b": 1, "a": [1.5]}, sort_keys=True)
    assert json.loads(p.read_text()) == {"a": [1.5], "b": 1}
    assert p.read_text().startswith('{\n  "a"')  # indent 2, keys sorted
    assert [q.name for q in p.parent.iterdir()] == ["a.json"]


def test_error_inside_the_block_keeps_the_old_file(tmp_path):
    p = tmp_path / "m.csv"
    write_text(p, "id,y\n1,0\n")
    with pytest.raises(RuntimeError, match="disk gone"), atomic_open(p, "w", newline="") as fh:
        fh.write("id,y\n")  # half a file reaches only the temporary
        raise RuntimeError("disk gone")
    assert p.read_text() == "id,y\n1,0\n"
    assert [q.name for q in tmp_path.iterdir()] == ["m.csv"]


def test_unserialisable_json_keeps_the_old_file(tmp_path):
    p = tmp_path / "m.json"
    write_json(p, {"ok": True})
    with pytest.raises(TypeError):
        write_json(p, {"bad": object()})
    assert json.loads(p.read_text()) == {"ok": True}


def test_checkpoint_round_trip_through_atomic_open(tmp_path):
    import torch

    save_atomic({"model": {"w": torch.arange(3.0)}, "epoch": 2}, tmp_path / "c.pt")
    got = load_checkpoint(tmp_path / "c.pt", expect=("model", "epoch"))
    assert got["epoch"] == 2 and torch.equal(got["model"]["w"], torch.arange(3.0))
    assert [q.name for q in tmp_path.iterdir()] == ["c.pt"]
