"""Explanations: Integrated Gradients' completeness through the method's prediction rule,
bounded-memory batching that changes nothing, Grad-CAM's known answer for a linear head,
FineFACE's expert maps, and the side-by-side pictures of two runs (ASAC / FineFACE Figure 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facefair import TrainConfig, train
from facefair.cli import main
from facefair.errors import ConfigError
from facefair.explain import CAMExplainer, IntegratedGradientsExplainer, explain_run, model_cams
from facefair.explain.ig import attribution_map
from facefair.methods import get_method
from facefair.models import FineFACENet, build_backbone, build_model
from facefair.models.attention import class_activation_map


def _double_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("tiny").double().eval()
    with torch.no_grad():  # logits of order 1, so a relative tolerance means something
        model.head.weight.mul_(300)
    return model


def test_ig_is_complete_for_the_explained_logit() -> None:
    """Sum of IG attributions = F(x)[k] - F(baseline)[k] (Sundararajan et al.'s axiom), for
    the class the explainer says it explains; fp64 so the quadrature error is the only gap."""
    model, erm = _double_model(), get_method("erm")
    x = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    ex = IntegratedGradientsExplainer(erm, model, "positive", steps=300)
    ex.forward = lambda x, group=None: model(x)  # type: ignore[method-assign]  # keep fp64
    attr = ex.attribute(x, torch.ones(3, dtype=torch.long), None)
    with torch.no_grad():
        want = model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]
    assert want.abs().min() > 0.1
    assert torch.allclose(attr.sum((1, 2, 3)), want, rtol=0.01, atol=0.01)
    with torch.no_grad():
        other = model(x)[:, 0] - model(torch.zeros_like(x))[:, 0]
    assert not torch.allclose(attr.sum((1, 2, 3)), other, rtol=0.01, atol=0.01)  # it is class 1's


def test_ig_internal_batching_changes_nothing() -> None:
    torch.manual_seed(1)
    model, x = build_model("tiny").eval(), torch.rand(2, 3, 32, 32)
    y = torch.tensor([0, 1])
    big = IntegratedGradientsExplainer(get_method("erm"), model, "true", steps=12, internal_batch_size=24)
    small = IntegratedGradientsExplainer(get_method("erm"), model, "true", steps=12, internal_batch_size=5)
    a, b = big.attribute(x, y, None), small.attribute(x, y, None)
    assert torch.allclose(a, b, atol=1e-5)
    m = big(x, y)["IG"]
    assert m.shape == (2, 32, 32) and m.min() >= 0 and m.max() <= 1
    assert torch.allclose(m, attribution_map(a), atol=1e-4)


def test_ig_attributes_through_the_methods_rule() -> None:
    """Domain-independent 'conditional' reads each image's own group's head: the explained logit
    changes with the group handed to it, so the explainer must pass the group through."""
    torch.manual_seed(2)
    di = get_method("domain_independent", {"inference": "conditional"})
    model = build_model("tiny", n_classes=4).double().eval()
    with torch.no_grad():
        model.head.weight.mul_(300)
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    ex = IntegratedGradientsExplainer(di, model, "positive", steps=200)
    a0 = ex.attribute(x, torch.ones(2, dtype=torch.long), torch.tensor([0, 0]))
    a1 = ex.attribute(x, torch.ones(2, dtype=torch.long), torch.tensor([1, 1]))
    assert not torch.allclose(a0, a1)
    with torch.no_grad():
        want = (di.predict_logits(model, x, torch.tensor([1, 1]))[:, 1]
                - di.predict_logits(model, torch.zeros_like(x), torch.tensor([1, 1]))[:, 1])
    assert want.abs().min() > 0.05
    assert torch.allclose(a1.sum((1, 2, 3)).float(), want, rtol=0.02, atol=0.01)


def test_grad_cam_of_a_linear_head_is_relu_cam() -> None:
    """GAP + linear head: Grad-CAM's channel weights are w_k / HW, so its map is ReLU(CAM_k)
    up to scale (Selvaraju et al. 2017); normalised, the two agree."""
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        fmap = model.backbone(model.normalize(x))
        logits = model(x)
        for k in (0, 1):  # the classic CAM averages to the logit (Zhou et al.)
            cam = class_activation_map(fmap, model.head.weight[k].expand(4, -1))
            assert torch.allclose(cam.mean((1, 2)) + model.head.bias[k], logits[:, k], atol=1e-5)
    cam1 = class_activation_map(fmap, model.head.weight[1].expand(4, -1)).clamp_min(0)
    from facefair.models.attention import upsample_normalized

    want = upsample_normalized(cam1, (64, 64))[0]
    got = CAMExplainer(get_method("erm"), model, "positive")(x, torch.zeros(4, dtype=torch.long))["Grad-CAM"]
    assert got.shape == (4, 64, 64) and torch.allclose(got, want, atol=1e-4)
    assert list(model_cams(model, x)) == ["Grad-CAM"]


def test_fineface_cams_are_the_experts_and_the_overall_map() -> None:
    torch.manual_seed(0)
    net = FineFACENet(build_backbone("tiny"), width=16, hidden=8).train()
    maps = model_cams(net, torch.rand(3, 3, 48, 48))
    assert net.training  # restored
    assert list(maps) == ["expert 1", "expert 2", "expert 3", "overall"]
    assert all(m.shape == (3, 48, 48) and m.min() >= 0 and m.max() <= 1 for m in maps.values())


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    common = {"dataset": "synthetic", "dataset_options": {"n_train": 128, "n_val": 64, "n_test": 64},
              "arch": "tiny", "size": 32, "epochs": 1, "batch_size": 32, "progress": False}
    train(TrainConfig(**common), root / "base")  # type: ignore[arg-type]
    train(TrainConfig(method="fineface", method_options={"width": 16, "hidden": 8}, **common),  # type: ignore[arg-type]
          root / "ff")
    return root


def test_explain_draws_fineface_beside_its_baseline(two_runs: Path) -> None:
    png = explain_run(two_runs / "ff", "cam", compare=two_runs / "base", n=5, batch_size=2)
    doc = json.loads((two_runs / "ff" / "explain" / "cam.json").read_text())
    # the reference first, so a row reads before -> after
    assert doc["columns"] == ["base:\nGrad-CAM", "ff:\nexpert 1", "ff:\nexpert 2", "ff:\nexpert 3", "ff:\noverall"]
    assert len(doc["ids"]) == 5 and len(set(doc["ids"])) == 5
    assert set(doc["scores"]) == {"base", "ff"} and all(0 <= s <= 1 for s in doc["scores"]["ff"])
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > im.height  # 6 columns, 5 rows
    chosen = explain_run(two_runs / "base", "cam", ids=doc["ids"][:2], out=two_runs / "e")
    assert json.loads(chosen.with_suffix(".json").read_text())["ids"] == doc["ids"][:2]
    with pytest.raises(ConfigError, match="not in dataset"):
        explain_run(two_runs / "base", "cam", ids=["no_such_image"])
    with pytest.raises(ConfigError, match="--method"):
        explain_run(two_runs / "base", "shap")


def test_ig_side_by_side_is_batch_size_independent(two_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's IG pictures of the same images agree whatever the batching (memory knobs)."""
    args = ["explain", str(two_runs / "ff"), "--method", "ig", "--compare", str(two_runs / "base"),
            "--n", "3", "--steps", "8"]
    assert main([*args, "--batch-size", "3", "--internal-batch-size", "24", "--out", str(two_runs / "a")]) == 0
    assert main([*args, "--batch-size", "1", "--internal-batch-size", "3", "--out", str(two_runs / "b")]) == 0
    assert "ig.png" in capsys.readouterr().out
    a = json.loads((two_runs / "a" / "ig.json").read_text())
    b = json.loads((two_runs / "b" / "ig.json").read_text())
    assert a["columns"] == ["base:\nIG", "ff:\nIG"] and a["ids"] == b["ids"] and a["scores"] == b["scores"]
    with Image.open(two_runs / "a" / "ig.png") as ia, Image.open(two_runs / "b" / "ig.png") as ib:
        diff = np.asarray(ia.convert("L"), dtype=float) - np.asarray(ib.convert("L"), dtype=float)
        assert np.abs(diff).mean() < 1.0  # same picture up to float noise in the maps
