"""Archives: a table finished from its results.json without training its done rows again."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tiny_files import SWEEP, TINY

from facefair.cli import main
from facefair.devices import describe_machine


def test_restore_finishes_a_table_from_its_archive_without_training_done_runs(tmp_path: Path, capsys) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    first = tmp_path / "first"
    assert main(["experiment", "run", str(path), "--out", str(first), "--no-progress"]) == 0
    made = first / "tiny" / "cpu"
    archive = json.loads((made / "results.json").read_text())
    assert all("validation" in r and "identity" in r for r in archive["runs"] if r["method"] != "choose")
    # where and how long each run trained travels with it (fp32 moves slightly between CPUs)
    here = describe_machine(torch.device("cpu"))
    for r in (r for r in archive["runs"] if r["method"] != "choose"):
        t = r["trained"]
        assert (t["machines"], t["epochs"]) == ([here], 2) and t["best_epoch"] in (1, 2) and t["train_seconds"] > 0
    capsys.readouterr()

    # a fresh machine: every run restored from the committed archive, none trained
    again = tmp_path / "again"
    assert main(["experiment", "run", str(path), "--out", str(again), "--no-progress",
                 "--restore", str(made / "results.json")]) == 0
    printed = capsys.readouterr().out
    assert "restored 6 run folder(s)" in printed and printed.count(": restored") == 6 and ": trained" not in printed
    redone = again / "tiny" / "cpu"
    assert (redone / "results.md").read_text().replace(f" (restored from {made / 'results.json'})", "") == \
        (made / "results.md").read_text()
    assert json.loads((redone / "results.json").read_text()) == archive  # re-archiving loses nothing
    assert not list(redone.rglob("*.pt"))  # no checkpoints: nothing is evaluated again

    # part of a table restored: the missing run trains, and its seed's choice is computed
    # afresh from the restored runs' archived validation metrics and the new run's log
    part = dict(archive, runs=[r for r in archive["runs"] if (r["run"], r["seed"]) not in {("w0", 1), ("reg", 1)}])
    (tmp_path / "part.json").write_text(json.dumps(part))
    third = tmp_path / "third"
    assert main(["experiment", "run", str(path), "--out", str(third), "--no-progress",
                 "--restore", str(tmp_path / "part.json")]) == 0
    printed = capsys.readouterr().out
    assert "restored 5 run folder(s)" in printed and "w0-s1: trained" in printed
    kept = {(r["run"], r["seed"]): r for r in archive["runs"]}
    rebuilt = {(r["run"], r["seed"]): r for r in json.loads((third / "tiny" / "cpu" / "results.json").read_text())["runs"]}
    assert rebuilt["reg", 1]["chosen"] == kept["reg", 1]["chosen"]  # same seed, same numbers on CPU
    assert rebuilt["w0", 1]["metrics"]["metrics"] == kept["w0", 1]["metrics"]["metrics"]

    # an archive of another plan, or of a config the file no longer trains, is refused, and an
    # older archive without validation metrics says why a choice cannot be computed from it
    def refused(args: list[str], out: str) -> str:
        assert main(["experiment", "run", str(path), "--out", str(tmp_path / out), "--no-progress", *args]) != 0
        return capsys.readouterr().err

    err = refused(["--set", "clip=0.5", "--restore", str(made / "results.json")], "x")
    assert f"{made / 'results.json'}: archive of another plan: set {{}} (here {{'clip': 0.5}})" in err
    path.write_text(SWEEP.replace("weight = 0.1", "weight = 0.2"))
    assert "run w0 seed 0 was trained with another config" in refused(["--restore", str(made / "results.json")], "y")
    path.write_text(SWEEP)
    old = dict(part, runs=[{k: v for k, v in r.items() if k != "validation"} for r in part["runs"]])
    (tmp_path / "old.json").write_text(json.dumps(old))
    err = refused(["--restore", str(tmp_path / "old.json")], "z")
    assert "restored.json: the archive" in err and "kept no validation metrics" in err

    # an archive travels between machines: the files it names are only this experiment's own
    hostile = dict(archive, runs=[dict(r, cross={"../../escaped.json": {}}) if r["method"] != "choose" else r
                                  for r in archive["runs"]])
    (tmp_path / "hostile.json").write_text(json.dumps(hostile))
    err = refused(["--restore", str(tmp_path / "hostile.json")], "h")
    assert "cross-dataset file '../../escaped.json' is not one this experiment writes" in err
    assert not list(tmp_path.rglob("escaped.json")) and not list((tmp_path / "h").rglob("*.restore"))


def test_restore_trains_a_base_whose_fine_tune_the_archive_lacks(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    first = tmp_path / "first"
    assert main(["experiment", "run", str(path), "--out", str(first), "--runs", "di", "--seeds", "0",
                 "--no-progress"]) == 0
    base_only = json.loads((first / "tiny" / "cpu" / "results.json").read_text())
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "b"), "--runs", "base", "--seeds", "0",
                 "--no-progress"]) == 0
    base_only["runs"] += json.loads((tmp_path / "b" / "tiny" / "cpu" / "results.json").read_text())["runs"]
    (tmp_path / "a.json").write_text(json.dumps(base_only))
    capsys.readouterr()
    # di is restored; base is archived, but ASAC fine-tunes from its weights, so it trains
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "c"), "--seeds", "0", "--no-progress",
                 "--restore", str(tmp_path / "a.json")]) == 0
    printed = capsys.readouterr().out
    assert "restored 1 run folder(s)" in printed and "di-s0: restored" in printed
    assert "base-s0: trained" in printed and "asac-s0: trained" in printed
    # that table whole (a fine-tune and its base among it): restored, nothing planned from weights
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "d"), "--seeds", "0", "--no-progress",
                 "--restore", str(tmp_path / "c" / "tiny" / "cpu" / "results.json")]) == 0
    printed = capsys.readouterr().out
    assert "restored 3 run folder(s)" in printed and ": trained" not in printed
    assert (tmp_path / "d" / "tiny" / "cpu" / "results.md").read_text() == \
        (tmp_path / "c" / "tiny" / "cpu" / "results.md").read_text()


def test_restore_takes_a_fineface_row_whose_options_hold_a_tuple(tmp_path: Path, capsys) -> None:
    # FineFACE's default stages are a tuple; its archived identity holds a JSON list, and the
    # two must compare equal or no FineFACE row could ever be restored
    path = tmp_path / "ff.toml"
    path.write_text(TINY.split("[[run]]")[0] + """
[[run]]
id = "ff"
label = "FineFACE"
method = "fineface"
options = { width = 16, hidden = 8 }
""")
    first = tmp_path / "first"
    assert main(["experiment", "run", str(path), "--out", str(first), "--seeds", "0", "--no-progress"]) == 0
    archive = first / "tiny" / "cpu" / "results.json"
    assert json.loads(archive.read_text())["runs"][0]["identity"]["method_options"]["stages"] == [3, 4, 5]
    capsys.readouterr()
    assert main(["experiment", "run", str(path), "--out", str(tmp_path / "again"), "--seeds", "0",
                 "--no-progress", "--restore", str(archive)]) == 0
    printed = capsys.readouterr().out
    assert "restored 1 run folder(s)" in printed and ": trained" not in printed
    assert (tmp_path / "again" / "tiny" / "cpu" / "results.md").read_text() == \
        (first / "tiny" / "cpu" / "results.md").read_text()


def test_an_archive_older_than_a_method_option_still_matches() -> None:
    """A method option added after an archive was written counts at its default (ASAC's
    attack_label arrived after the pretrained ASAC archive), so the archive still restores;
    another value of it does not match."""
    from facefair.experiments.identity import same_training

    old = {"method": "asac", "method_options": {"attack": "fgsm"}, "init": {"method": "erm", "method_options": {}}}
    now = {"method": "asac", "method_options": {"attack": "fgsm", "attack_label": "true"},
           "init": {"method": "erm", "method_options": {}}}
    assert same_training(old, now)
    assert not same_training(old, {**now, "method_options": {"attack": "fgsm", "attack_label": "predicted"}})
