"""FineFACE's network: any input size, every backbone, batched CAMs against the published
per-image loop, and fused inference against an independent re-computation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from facefair.errors import ConfigError
from facefair.models import FineFACENet, build_backbone
from facefair.models.attention import reference_cam_loop


def small_net(arch: str = "tiny", **kw: object) -> FineFACENet:
    torch.manual_seed(0)
    return FineFACENet(build_backbone(arch), width=kw.pop("width", 32), hidden=kw.pop("hidden", 16), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [64, 96, 128])
def test_any_input_size_resnet18(size: int) -> None:
    net = small_net("resnet18").eval()
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        out = net.run_experts(x, concat=True)
        # ResNet layer2..4 are strides 8, 16, 32
        assert [tuple(out.maps[n].shape[-2:]) for n in range(3)] == [(size // s, size // s) for s in (8, 16, 32)]
        assert out.concat is not None and out.concat.shape == (2, 2)
        for mode in ("fused", "raw", "crop", "concat", "expert1", "expert2", "expert3"):
            assert net.predict(x, mode).shape == (2, 2)


@pytest.mark.parametrize("arch", ["resnet50", "densenet121"])
def test_other_backbones_build_experts_on_stages_3_to_5(arch: str) -> None:
    net = small_net(arch).eval()
    assert [h.block[0].in_channels for h in net.heads] == net.backbone.out_channels[2:]
    with torch.no_grad():
        assert net(torch.rand(2, 3, 64, 64)).shape == (2, 2)


def test_options_change_the_heads() -> None:
    relu_avg = small_net(activation="relu", pooling="avg", stages=(2, 5))
    assert relu_avg.n_experts == 2
    assert isinstance(relu_avg.heads[0].block[2], torch.nn.ReLU)
    assert isinstance(relu_avg.pool, torch.nn.AdaptiveAvgPool2d)
    assert isinstance(small_net().heads[0].block[2], torch.nn.ELU)
    assert isinstance(small_net().pool, torch.nn.AdaptiveMaxPool2d)
    for bad in ({"stages": (3, 6)}, {"stages": (4, 3)}, {"activation": "tanh"}, {"pooling": "median"},
                {"width": 7}, {"threshold": 1.5}):
        with pytest.raises(ConfigError):
            small_net(**bad)


def test_batched_cam_equals_the_per_image_loop() -> None:
    net = small_net().eval()
    x = torch.rand(6, 3, 48, 48)
    with torch.no_grad():
        out = net.run_experts(x)
        cams = net.expert_cams(out, (48, 48))
    for n in range(3):
        clf = net.classifiers[n]
        ref = reference_cam_loop(out.maps[n], out.logits[n].argmax(1), clf.fc1.weight, clf.fc2.weight)
        ref = F.interpolate(ref[:, None], size=(48, 48), mode="bilinear", align_corners=False)[:, 0]
        lo, hi = ref.amin((1, 2), keepdim=True), ref.amax((1, 2), keepdim=True)
        assert torch.allclose(cams[n], (ref - lo) / (hi - lo), atol=1e-5)


def reference_crop(x: torch.Tensor, norm_map: torch.Tensor, t: float = 0.5, pad: float = 0.1) -> torch.Tensor:
    """The published attention_im, one image at a time (with an end-exclusive box)."""
    out = x.clone()
    h, w = x.shape[-2:]
    for i in range(len(x)):
        idx = torch.nonzero(norm_map[i] >= t)
        if len(idx) == 0:
            continue
        y0 = max(int(torch.floor(idx[:, 0].min() - pad * h)), 0)
        y1 = min(int(torch.ceil(idx[:, 0].max() + 1 + pad * h)), h)
        x0 = max(int(torch.floor(idx[:, 1].min() - pad * w)), 0)
        x1 = min(int(torch.ceil(idx[:, 1].max() + 1 + pad * w)), w)
        out[i] = F.interpolate(x[i:i + 1, :, y0:y1, x0:x1], size=(h, w), mode="bilinear", align_corners=False)[0]
    return out


def test_fused_inference_is_the_sum_of_the_2n_plus_2_logits() -> None:
    net = small_net().eval()
    torch.manual_seed(1)
    x = torch.rand(5, 3, 48, 48)
    with torch.no_grad():
        raw = net.run_experts(x, concat=True)
        cams = []
        for n in range(3):
            clf = net.classifiers[n]
            c = reference_cam_loop(raw.maps[n], raw.logits[n].argmax(1), clf.fc1.weight, clf.fc2.weight)
            c = F.interpolate(c[:, None], size=(48, 48), mode="bilinear", align_corners=False)[:, 0]
            lo, hi = c.amin((1, 2), keepdim=True), c.amax((1, 2), keepdim=True)
            cams.append((c - lo) / (hi - lo))
        total = sum(cams)
        lo, hi = total.amin((1, 2), keepdim=True), total.amax((1, 2), keepdim=True)
        crop = reference_crop(x, (total - lo) / (hi - lo))
        att = net.run_experts(crop, concat=True)
        logits = [raw.logits[n] for n in range(3)] + [raw.concat] + [att.logits[n] for n in range(3)] + [att.concat]
        assert len(logits) == 2 * (3 + 1)
        expected = torch.stack(logits).sum(0)
        assert torch.allclose(net(x), expected, atol=1e-4)
        assert torch.allclose(net.predict(x, "fused"), net.predict(x, "raw") + net.predict(x, "crop"), atol=1e-4)
        assert torch.allclose(net.predict(x, "expert2"), raw.logits[1], atol=1e-5)
        assert torch.allclose(net.predict(x, "concat"), raw.concat, atol=1e-5)
