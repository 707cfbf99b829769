"""Cross-dataset evaluation (FineFACE Table 3): a run's model on another dataset. The same
images served through a CSV manifest must give the very scores the in-domain evaluation
gives; labels are mapped by class name (or ``--positive``); groups never reach the model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import SYNTH, write_manifest

from facefair.cli import main
from facefair.config import TrainConfig
from facefair.errors import ConfigError, DataError
from facefair.evaluation import evaluate, evaluate_on
from facefair.trainer import train


def _cfg(method: str = "erm", **options) -> TrainConfig:
    return TrainConfig(dataset="synthetic", dataset_options=SYNTH, arch="tiny", size=32, batch_size=32,
                       epochs=1, progress=False, method=method, method_options=options, bf16=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cross") / "run"
    train(_cfg(), out)
    return out


def _scores(path: Path) -> dict[str, float]:
    with path.open() as f:
        return {Path(r["id"]).stem: float(r["score"]) for r in csv.DictReader(f)}


def test_same_images_through_a_manifest_give_the_in_domain_scores(run: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m")
    home = evaluate(run, n_boot=0)
    away = evaluate_on(run, "manifest", target="smiling", protected="tone", positive="yes",
                       dataset_options={"manifest": str(manifest)}, n_boot=50)
    a, b = _scores(run / "predictions.csv"), _scores(run / "predictions-on-manifest.csv")
    assert a.keys() == b.keys() and len(a) == SYNTH["n_test"]
    assert max(abs(a[k] - b[k]) for k in a) < 1e-6
    assert away.overall["accuracy"] == pytest.approx(home.overall["accuracy"])
    doc = json.loads((run / "metrics-on-manifest.json").read_text())
    assert doc["trained_on"] == "synthetic" and doc["positive"] == "yes" and doc["dataset"] == "manifest"
    assert {g["group"] for g in doc["groups"]} == {"light", "dark"}
    assert "accuracy" in doc["ci"]  # with its bootstrap interval


def test_classes_are_matched_by_name_or_the_error_says_what_to_pass(run: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m", ("not smiling", "smiling"))  # the model's own names
    evaluate_on(run, "manifest", target="smiling", protected="tone", name="same-names", n_boot=0,
                dataset_options={"manifest": str(manifest)})
    assert (run / "metrics-same-names.json").is_file()
    odd = write_manifest(tmp_path / "odd", ("0", "1"))
    with pytest.raises(ConfigError, match=r"none called 'smiling'.*--positive"):
        evaluate_on(run, "manifest", target="smiling", protected="tone",
                    dataset_options={"manifest": str(odd)})
    # flipping the positive class flips every label: accuracy becomes 1 - accuracy
    r1 = evaluate_on(run, "manifest", target="smiling", protected="tone", positive="1", name="p1", n_boot=0,
                     dataset_options={"manifest": str(odd)})
    r0 = evaluate_on(run, "manifest", target="smiling", protected="tone", positive="0", name="p0", n_boot=0,
                     dataset_options={"manifest": str(odd)})
    assert r0.overall["accuracy"] == pytest.approx(1 - r1.overall["accuracy"])


def test_protected_labels_of_another_dataset_never_reach_the_model(tmp_path: Path) -> None:
    out = tmp_path / "di"
    train(_cfg("domain_independent", inference="conditional"), out)
    manifest = write_manifest(tmp_path / "m")
    with pytest.raises(ConfigError, match="conditional' needs the protected labels"):
        evaluate_on(out, "manifest", target="smiling", protected="tone", positive="yes",
                    dataset_options={"manifest": str(manifest)})
    # the group-free rule works across datasets
    evaluate_on(out, "manifest", target="smiling", protected="tone", positive="yes", n_boot=0,
                dataset_options={"manifest": str(manifest)}, method_options={"inference": "sum"})
    assert (out / "metrics-on-manifest-inference-sum.json").is_file()


def test_cli_cross_dataset_evaluation(run: Path, tmp_path: Path, capsys) -> None:
    manifest = write_manifest(tmp_path / "m")
    assert main(["evaluate", str(run), "--on", "manifest", "--manifest", str(manifest), "--target", "smiling",
                 "--protected", "tone", "--positive", "yes", "--name", "cli", "--bootstrap", "0",
                 "--no-progress"]) == 0
    assert "metrics-cli.json" in capsys.readouterr().out and (run / "metrics-cli.json").is_file()
    assert main(["evaluate", str(run), "--root", str(tmp_path)]) == 2
    assert "--root only apply with --on" in capsys.readouterr().err


def test_every_image_is_scored_by_default_and_the_file_says_so(run: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m")
    rows = manifest.read_text().splitlines()
    # give the manifest a split column other than test on half its rows: a foreign dataset's
    # own split says nothing to this model, so all of it is scored unless asked otherwise
    head, body = rows[0], rows[1:]
    body = [r.rsplit(",", 1)[0] + ("," + ("train" if i % 2 else "test")) for i, r in enumerate(body)]
    manifest.write_text("\n".join([head, *body]) + "\n")
    evaluate_on(run, "manifest", target="smiling", protected="tone", positive="yes", n_boot=0,
                dataset_options={"manifest": str(manifest)})
    doc = json.loads((run / "metrics-on-manifest.json").read_text())
    assert doc["split"] == "all" and doc["scored"] == doc["n"] == len(body) and doc["skipped"] == []
    evaluate_on(run, "manifest", target="smiling", protected="tone", positive="yes", n_boot=0, split="test",
                dataset_options={"manifest": str(manifest)}, name="on-manifest-test")
    doc = json.loads((run / "metrics-on-manifest-test.json").read_text())
    assert doc["split"] == "test" and doc["scored"] == (len(body) + 1) // 2


def test_target_within_the_protected_attribute_says_so_once(run: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m")
    evaluate_on(run, "manifest", target="smiling", protected="tone+smiling", positive="yes", n_boot=20,
                dataset_options={"manifest": str(manifest)})
    doc = json.loads((run / "metrics-on-manifest.json").read_text())
    assert len(doc["groups"]) == 4 and len(doc["warnings"]) == 1
    assert "part of the protected attribute 'tone+smiling'" in doc["warnings"][0]
    for k in ("demographic_parity_diff", "equal_opportunity_diff", "equalized_odds_mean"):
        assert doc["metrics"][k] is None and k not in doc["ci"]
    assert doc["metrics"]["accuracy_ratio"] is not None and doc["metrics"]["degree_of_bias"] is not None


def test_report_and_table_read_a_cross_dataset_evaluation(run: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from facefair.report.html import write_report

    manifest = write_manifest(tmp_path / "m")
    evaluate_on(run, "manifest", target="smiling", protected="tone", positive="yes", n_boot=0,
                dataset_options={"manifest": str(manifest)})
    page = write_report([f"away={run}::metrics-on-manifest.json"], tmp_path / "r.html").read_text()
    assert "manifest (trained on synthetic), all" in page
    assert main(["table", "--layout", "groups", f"away={run}::metrics-on-manifest.json"]) == 0
    assert "| away | manifest (trained on synthetic), all |" in capsys.readouterr().out


def test_a_run_folder_works_from_anywhere_and_after_its_data_moved(tmp_path: Path, monkeypatch) -> None:
    """Trained on a manifest named relative to the working folder: the config keeps it resolved,
    task.json keeps the class and group names, and a cross-dataset evaluation from another
    folder, after the training data moved, needs nothing of them; an evaluation that does need
    them names the path it looked at."""
    home = tmp_path / "home"
    manifest = write_manifest(home / "data")
    rows = manifest.read_text().splitlines()
    split = ["train", "train", "val", "test"]
    manifest.write_text("\n".join([rows[0], *(r.rsplit(",", 1)[0] + "," + split[i % 4] for i, r in enumerate(rows[1:]))]))
    monkeypatch.chdir(home)
    cfg = TrainConfig(dataset="manifest", dataset_options={"manifest": "data/manifest.csv"}, target="smiling",
                      protected="tone", arch="tiny", size=32, batch_size=16, epochs=1, progress=False, bf16=False)
    train(cfg, "run")
    saved = json.loads((home / "run" / "config.json").read_text())
    assert saved["dataset_options"]["manifest"] == str(manifest)  # resolved, not as typed
    names = json.loads((home / "run" / "task.json").read_text())
    assert names["y_classes"] == ["no", "yes"] and names["group_classes"] == ["dark", "light"]

    (home / "data").rename(tmp_path / "moved")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    other = write_manifest(tmp_path / "other")
    evaluate_on(home / "run", "manifest", target="smiling", protected="tone",
                dataset_options={"manifest": str(other)}, n_boot=0)
    assert len(_scores(home / "run" / "predictions-on-manifest.csv")) == SYNTH["n_test"]
    with pytest.raises(DataError, match=f"the training data {manifest} that {home / 'run' / 'config.json'} names"):
        evaluate(home / "run", n_boot=0)
