"""CAM explanations: the linear-head CAM's known answer, and the side-by-side picture of a
FineFACE run beside its baseline (FineFACE Figure 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from facefair import TrainConfig, train
from facefair.errors import ConfigError
from facefair.explain import explain_run, model_cams
from facefair.models import FineFACENet, build_backbone, build_model
from facefair.models.attention import class_activation_map


def test_linear_head_cam_averages_to_the_logit() -> None:
    """With global average pooling and a linear head, mean_hw CAM_k + b_k = logit_k (Zhou et al.)."""
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        fmap = model.backbone(model.normalize(x))
        logits = model(x)
        for k in (0, 1):
            cam = class_activation_map(fmap, model.head.weight[k].expand(4, -1))
            assert torch.allclose(cam.mean((1, 2)) + model.head.bias[k], logits[:, k], atol=1e-5)
    maps = model_cams(model, x)
    assert list(maps) == ["CAM"] and maps["CAM"].shape == (4, 64, 64)
    assert maps["CAM"].amin() >= 0 and maps["CAM"].amax() <= 1


def test_fineface_cams_are_the_experts_and_the_overall_map() -> None:
    torch.manual_seed(0)
    net = FineFACENet(build_backbone("tiny"), width=16, hidden=8).train()
    maps = model_cams(net, torch.rand(3, 3, 48, 48))
    assert net.training  # restored
    assert list(maps) == ["expert 1", "expert 2", "expert 3", "overall"]
    assert all(m.shape == (3, 48, 48) for m in maps.values())


def test_explain_draws_fineface_beside_its_baseline(tmp_path: Path) -> None:
    common = {"dataset": "synthetic", "dataset_options": {"n_train": 128, "n_val": 64, "n_test": 64},
              "arch": "tiny", "size": 32, "epochs": 1, "batch_size": 32, "progress": False}
    train(TrainConfig(**common), tmp_path / "base", log=lambda *_: None)  # type: ignore[arg-type]
    train(TrainConfig(method="fineface", method_options={"width": 16, "hidden": 8}, **common),  # type: ignore[arg-type]
          tmp_path / "ff", log=lambda *_: None)
    png = explain_run(tmp_path / "ff", "cam", compare=tmp_path / "base", n=5, batch_size=2, log=lambda *_: None)
    doc = json.loads((tmp_path / "ff" / "explain" / "cam.json").read_text())
    assert doc["columns"] == ["ff:\nexpert 1", "ff:\nexpert 2", "ff:\nexpert 3", "ff:\noverall", "base:\nCAM"]
    assert len(doc["ids"]) == 5 and len(set(doc["ids"])) == 5
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > im.height  # 6 columns, 5 rows
    chosen = explain_run(tmp_path / "base", "cam", ids=doc["ids"][:2], out=tmp_path / "e", log=lambda *_: None)
    assert json.loads(chosen.with_suffix(".json").read_text())["ids"] == doc["ids"][:2]
    with pytest.raises(ConfigError, match="not in dataset"):
        explain_run(tmp_path / "base", "cam", ids=["no_such_image"], log=lambda *_: None)
