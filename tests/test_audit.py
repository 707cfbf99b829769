"""facefair audit: a model trained outside facefair (a torchvision ResNet trained here, in the
test's own code), as TorchScript, as a torch.export program, as ONNX and as a factory with
weights, scored end to end to the report; its predictions are checked against the model run by
hand on the same image files."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from helpers import SYNTH, write_manifest
from torch import nn

from facefair.auditing import audit
from facefair.cli import main
from facefair.data.synthetic import make_synthetic
from facefair.errors import ConfigError, DataError
from facefair.metrics import read_predictions

HALF = "0.5,0.5,0.5/0.5,0.5,0.5"


def build() -> nn.Module:
    return torchvision.models.resnet18(num_classes=2)


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A ResNet-18 trained on the synthetic faces (inputs normalised to [-1, 1]) with a plain
    PyTorch loop, saved as TorchScript and as a state_dict; the test images as a manifest."""
    root = tmp_path_factory.mktemp("audit")
    torch.manual_seed(0)
    data = make_synthetic(**SYNTH, size=32)
    train = np.flatnonzero(data.split == 0)
    x = torch.from_numpy(data.images[train]).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(data.labels["smile"][train]).long()
    model = build()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(2):
        for i in range(0, len(x), 32):
            loss = nn.functional.cross_entropy(model((x[i:i + 32] - 0.5) / 0.5), y[i:i + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    torch.jit.trace(model, torch.rand(2, 3, 32, 32)).save(str(root / "model.pt"))
    # the same network as a torch.export program (its batch fixed at 4: the audit pads the last
    # chunk) and as ONNX with a free batch, under names that do not say their format
    torch.export.save(torch.export.export(model, (torch.rand(4, 3, 32, 32),)), str(root / "exported.bin"))
    torch.onnx.export(model, (torch.rand(2, 3, 32, 32),), str(root / "model.onnx.bin"), dynamo=False,
                      input_names=["pixels"], dynamic_axes={"pixels": {0: "n"}})
    torch.save(model.state_dict(), root / "weights.pt")
    (root / "outside_net.py").write_text("import torchvision\n\ndef build():\n"
                                         "    return torchvision.models.resnet18(num_classes=2)\n")
    write_manifest(root / "data")
    return {"root": root, "model": root / "model.pt", "weights": root / "weights.pt",
            "export": root / "exported.bin", "onnx": root / "model.onnx.bin",
            "manifest": root / "data" / "manifest.csv"}


def _by_hand(model_file: Path, manifest: Path, mean: float = 0.5, std: float = 0.5) -> dict[str, int]:
    from PIL import Image

    model = torch.jit.load(str(model_file)).eval()
    preds = {}
    rows = manifest.read_text().splitlines()[1:]
    for row in rows:
        name = row.split(",")[0]
        img = torch.from_numpy(np.array(Image.open(manifest.parent / name).convert("RGB"))).permute(2, 0, 1)
        with torch.no_grad():
            preds[Path(name).stem] = int(model(((img.float() / 255 - mean) / std)[None]).argmax(1))
    return preds


def test_torchscript_audit_end_to_end(outside: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "audit"
    assert main(["audit", "--model", str(outside["model"]), "--input-size", "32", "--normalize", HALF,
                 "--dataset", "manifest", "--manifest", str(outside["manifest"]), "--target", "smiling",
                 "--protected", "tone", "--positive", "yes", "--out", str(out), "--bootstrap", "50",
                 "--explain", "3", "--ig-steps", "4", "--no-progress"]) == 0
    assert "report.html" in capsys.readouterr().out
    doc = json.loads((out / "audit.json").read_text())
    assert doc["model"]["kind"] == "torchscript" and len(doc["model"]["sha256"]) == 64
    assert doc["normalize"]["mean"] == [0.5, 0.5, 0.5] and doc["n_scored"] == SYNTH["n_test"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == SYNTH["n_test"] and "ci" in metrics and len(metrics["groups"]) == 2
    # every decision equals the model run by hand on the same files, and the metrics are theirs
    preds = read_predictions(out / "predictions.csv", keep_ids=True)
    hand = _by_hand(outside["model"], outside["manifest"])
    assert preds.ids is not None
    assert {Path(str(i)).stem: int(p) for i, p in zip(preds.ids, preds.pred)} == hand
    assert metrics["metrics"]["accuracy"] == pytest.approx(float(np.mean(preds.pred == preds.y)))
    # IG drawn; no Grad-CAM for TorchScript (its layers are hidden), and the report says which model
    assert (out / "explain" / "ig.png").is_file() and not (out / "explain" / "cam.png").exists()
    page = (out / "report.html").read_text()
    assert "A model trained outside facefair (torchscript" in page and "audit.json" in page


def test_audit_input_size_draws_the_synthetic_faces_at_that_size(outside: dict[str, Path], tmp_path: Path) -> None:
    """As ``train --size 32`` does: the synthetic faces are drawn at --input-size, and the
    audit scores the very images the manifest holds (the same test faces, written as PNG)."""
    via_manifest = audit(tmp_path / "m", "manifest", None, "smiling", "tone", outside["model"], input_size=32,
                         normalize=HALF, positive="yes", dataset_options={"manifest": str(outside["manifest"])},
                         n_boot=0, explain=0)
    synthetic = audit(tmp_path / "s", "synthetic", None, "smile", "group", outside["model"], input_size=32,
                      normalize=HALF, split="test", dataset_options=dict(SYNTH), n_boot=0, explain=0)
    assert synthetic.overall["accuracy"] == pytest.approx(via_manifest.overall["accuracy"])


def test_factory_audit_draws_grad_cam_and_checks_its_inputs(outside: dict[str, Path], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(outside["root"])
    common = {"dataset": "manifest", "root": None, "target": "smiling", "protected": "tone",
              "dataset_options": {"manifest": str(outside["manifest"])}, "input_size": 32, "positive": "yes",
              "n_boot": 0, "ig_steps": 4, "explain": 2}
    rep = audit(tmp_path / "f", factory="outside_net:build", weights=outside["weights"], normalize=HALF, **common)
    assert (tmp_path / "f" / "explain" / "cam.png").is_file()
    # the same weights as the TorchScript file: the same decisions as the model run by hand
    preds = read_predictions(tmp_path / "f" / "predictions.csv", keep_ids=True)
    assert preds.ids is not None and rep.n == SYNTH["n_test"]
    hand = _by_hand(outside["model"], outside["manifest"])
    assert {Path(str(i)).stem: int(p) for i, p in zip(preds.ids, preds.pred)} == hand
    # the wrong normalisation is another model: the audit records which one it used
    audit(tmp_path / "n", factory="outside_net:build", weights=outside["weights"], normalize="none",
          **{**common, "explain": 0})
    assert (read_predictions(tmp_path / "n" / "predictions.csv").score != preds.score).any()
    assert json.loads((tmp_path / "n" / "audit.json").read_text())["normalize"]["name"] == "none"
    with pytest.raises(DataError, match="a torch.save file .* --model-factory"):
        audit(tmp_path / "x", model_file=outside["weights"], normalize=HALF, **common)
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "bad.pt")
    with pytest.raises(DataError, match="weights do not fit"):
        audit(tmp_path / "y", factory="outside_net:build", weights=tmp_path / "bad.pt", normalize=HALF, **common)
    with pytest.raises(ConfigError, match="--normalize takes"):
        audit(tmp_path / "z", model_file=outside["model"], normalize="bgr", **common)
    assert not any((tmp_path / d).exists() for d in ("x", "y", "z"))  # a failed audit leaves nothing


@pytest.mark.parametrize("kind", ["export", "onnx"])
def test_exported_and_onnx_models_audit_to_the_same_decisions(outside: dict[str, Path], tmp_path: Path,
                                                              kind: str) -> None:
    """The network of the TorchScript file, saved by torch.export and by the ONNX exporter:
    every decision equals the model run by hand, the metrics equal the TorchScript audit's,
    and each format gets the explanations it supports."""
    pytest.importorskip("onnxruntime")
    common = ["--input-size", "32", "--normalize", HALF, "--dataset", "manifest", "--manifest",
              str(outside["manifest"]), "--target", "smiling", "--protected", "tone", "--positive", "yes",
              "--bootstrap", "0", "--explain", "2", "--ig-steps", "4", "--no-progress"]
    from facefair.data.synthetic import SYNTHETIC_TEMPLATE

    face = tmp_path / "face.json"  # the manifest holds no landmarks: the synthetic faces' template
    face.write_text(json.dumps({"frame": SYNTHETIC_TEMPLATE[0], "points": SYNTHETIC_TEMPLATE[1]}))
    assert main(["audit", "--model", str(outside[kind]), "--out", str(tmp_path / kind), "--regions", "24",
                 "--landmarks-template", str(face), *common]) == 0
    assert main(["audit", "--model", str(outside["model"]), "--out", str(tmp_path / "ts"), *common]) == 0
    preds = read_predictions(tmp_path / kind / "predictions.csv", keep_ids=True)
    assert {Path(str(i)).stem: int(p) for i, p in zip(preds.ids, preds.pred)} == _by_hand(outside["model"],
                                                                                           outside["manifest"])
    ts = read_predictions(tmp_path / "ts" / "predictions.csv")
    assert np.allclose(preds.score, ts.score, atol=1e-5)
    mine, theirs = (json.loads((tmp_path / d / "metrics.json").read_text())["metrics"] for d in (kind, "ts"))
    assert mine.keys() == theirs.keys()
    for k, v in mine.items():
        assert (v is None and theirs[k] is None) or v == pytest.approx(theirs[k], abs=1e-9), k
    doc = json.loads((tmp_path / kind / "audit.json").read_text())
    assert doc["model"]["kind"] == kind
    drawn = sorted(p.name for p in (tmp_path / kind / "explain").glob("*.png"))
    assert drawn == (["ig.png"] if kind == "export" else ["ablation.png"])
    page = (tmp_path / kind / "report.html").read_text()
    assert ("patch ablation" in page) == (kind == "onnx")
    # region shares per group, by the method the format allows
    regions = json.loads((tmp_path / kind / "regions" / "regions.json").read_text())
    assert regions["method"] == ("ig" if kind == "export" else "ablation") and regions["n_images"] == 24
    assert "Where in the face, per group" in page and html.escape(regions["summary"]) in page
    # the model card: Hugging Face layout, its metadata the measured metrics, a row per group
    import yaml

    card = (tmp_path / kind / "MODEL_CARD.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    listed = {x["type"]: x["value"] for x in meta["model-index"][0]["results"][0]["metrics"]}
    assert listed["accuracy"] == pytest.approx(mine["accuracy"], abs=1e-6) and len(listed) >= 8
    assert meta["model-index"][0]["results"][0]["dataset"]["name"] == "manifest"
    groups = json.loads((tmp_path / kind / "metrics.json").read_text())["groups"]
    for g in groups:
        assert f"| {g['group']} | {g['n']} | {g['accuracy']:.4f}" in card
    for heading in ("## Intended use", "## Evaluation data", "## Results per group", "## Bias",
                    "## Risks and limitations", "### Not measured by this audit"):
        assert heading in card
    assert regions["summary"] in card
