"""Backbones: every architecture at several sizes, stages, and loading local weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from facefair.errors import ConfigError, DataError
from facefair.models import ARCHS, build_backbone, build_model, load_backbone_weights


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_arch_runs_at_small_sizes(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(arch, n_groups=7).eval()
    for size in (32, 64) if arch != "tiny" else (32, 48, 96):
        x = torch.rand(2, 3, size, size)
        assert model(x).shape == (2, 2)
        assert model.protected_logits(x).shape == (2, 7)
        stages = model.backbone.forward_stages(model.normalize(x))
        assert len(stages) == 5
        assert [s.shape[1] for s in stages] == model.backbone.out_channels


def test_inputs_are_pixels_normalised_inside() -> None:
    model = build_model("tiny")
    x = torch.full((1, 3, 8, 8), 0.485)
    assert model.normalize(x)[0, 0].abs().max() < 1e-6


def test_weights_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    a = build_backbone("resnet18").eval()
    torch.save(a.state_dict(), tmp_path / "w.pt")
    b = build_backbone("resnet18").eval()
    load_backbone_weights(b, tmp_path / "w.pt")
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("arch", ["resnet18", "densenet121"])
def test_torchvision_format_weights(tmp_path: Path, arch: str) -> None:
    """A torchvision checkpoint (fc/classifier keys included) loads; features match exactly."""
    torch.manual_seed(1)
    tv = getattr(torchvision.models, arch)(weights=None).eval()
    torch.save(tv.state_dict(), tmp_path / "tv.pth")
    ours = build_backbone(arch).eval()
    ignored = load_backbone_weights(ours, tmp_path / "tv.pth")
    assert ignored and all(k.startswith(("fc.", "classifier.")) for k in ignored)
    x = torch.rand(2, 3, 64, 64)
    if arch.startswith("resnet"):
        ref = torch.nn.Sequential(*list(tv.children())[:-2])(x)
    else:
        ref = torch.relu(tv.features(x))
    assert torch.allclose(ours(x), ref, atol=1e-5)


def test_bad_weights_files(tmp_path: Path) -> None:
    b = build_backbone("tiny")
    with pytest.raises(DataError, match="not found"):
        load_backbone_weights(b, tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="not a loadable state_dict"):
        load_backbone_weights(b, tmp_path / "junk.pt")
    torch.save(build_backbone("resnet18").state_dict(), tmp_path / "other.pt")
    with pytest.raises(DataError, match=r"has shape \(64, 3, 7, 7\), the tiny backbone expects"):
        load_backbone_weights(b, tmp_path / "other.pt")
    partial = dict(list(b.state_dict().items())[:-3])
    torch.save(partial, tmp_path / "partial.pt")
    # the last three: running_mean, running_var and the BatchNorm step counter, which is no weight
    with pytest.raises(ConfigError, match="2 of .* backbone weights are missing"):
        load_backbone_weights(b, tmp_path / "partial.pt")
