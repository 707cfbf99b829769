"""--precision: auto follows the hardware (bf16 only where it is native), an explicit choice
wins, the older --bf16/--no-bf16 flags keep their meaning, and a run's identity records the
precision it computes in, so an fp32 archive restores where auto means fp32 and not elsewhere."""

from __future__ import annotations

import pytest
import torch

import facefair.devices
from facefair.config import TrainConfig
from facefair.devices import autocast, resolve_precision
from facefair.errors import ConfigError
from facefair.experiments.identity import identity, precision_of, same_training

CPU = torch.device("cpu")


@pytest.fixture(params=[True, False], ids=["native-bf16", "emulated-bf16"])
def native(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(facefair.devices, "native_bf16", lambda device: request.param and device.type == "cpu")
    return bool(request.param)


def test_auto_is_bf16_only_where_native_and_an_explicit_choice_wins(native: bool) -> None:
    assert resolve_precision(TrainConfig(), CPU) == (
        ("bf16", "auto: cpu computes bf16 natively") if native
        else ("fp32", "auto: cpu has no native bf16, it would be emulated"))
    for cfg, want in ((TrainConfig(precision="fp32"), "fp32"), (TrainConfig(precision="bf16"), "bf16"),
                      (TrainConfig(bf16=True), "bf16"), (TrainConfig(bf16=False), "fp32"),
                      (TrainConfig(fp16=True), "fp16"), (TrainConfig(precision="fp16"), "fp16")):
        assert resolve_precision(cfg, CPU) == (want, "asked for")
    with autocast(TrainConfig(), CPU):
        out = torch.nn.Linear(4, 4)(torch.ones(2, 4))
    assert out.dtype == (torch.bfloat16 if native else torch.float32)


def test_auto_keeps_depthwise_backbones_in_fp32_on_a_cpu(native: bool) -> None:
    lite = TrainConfig(arch="efficientnet_lite0")
    precision, why = resolve_precision(lite, CPU)
    assert precision == "fp32" and ("depthwise" in why) == native
    assert resolve_precision(TrainConfig(arch="efficientnet_lite0", precision="bf16"), CPU) == ("bf16", "asked for")
    assert resolve_precision(TrainConfig(arch="resnet18"), CPU)[0] == ("bf16" if native else "fp32")


def test_two_ways_of_asking_must_agree_and_the_later_replaces_the_earlier() -> None:
    for kw in ({"precision": "bf16", "bf16": False}, {"precision": "fp32", "bf16": True},
               {"precision": "bf16", "fp16": True}):
        with pytest.raises(ConfigError, match="disagree; give one of them"):
            TrainConfig(**kw).validate()
    TrainConfig(precision="bf16", bf16=True).validate()  # the same thing twice
    cfg = TrainConfig(bf16=False)  # a base run written before --precision existed
    cfg.override({"precision": "bf16"})  # a fine-tune's flag
    cfg.validate()
    assert (cfg.bf16, cfg.requested_precision()) == (None, "bf16")
    cfg = TrainConfig(precision="fp32")  # an experiment file's precision
    cfg.override({"bf16": True})  # a --set of the older flag
    assert cfg.requested_precision() == "bf16"
    with pytest.raises(ConfigError, match="--precision must be one of auto, bf16, fp16, fp32"):
        TrainConfig(precision="fp8").validate()


def test_identity_records_the_precision_computed_in(native: bool) -> None:
    auto, fp32 = identity(TrainConfig()), identity(TrainConfig(bf16=False))
    assert "bf16" not in auto and "fp16" not in auto
    assert auto["precision"] == ("bf16" if native else "fp32") and fp32["precision"] == "fp32"
    assert (auto == fp32) is (not native)
    # an archived identity from before --precision: its bf16 = false meant fp32
    old = {k: v for k, v in fp32.items() if k != "precision"} | {"bf16": False, "fp16": False}
    assert precision_of(old) == "fp32" and precision_of({**old, "bf16": True}) == "bf16"
    assert same_training(old, fp32) and same_training(old, auto) is (not native)
    assert not same_training({**old, "bf16": True}, fp32)


def test_the_cli_refuses_two_precisions(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from facefair.cli import main

    assert main(["train", "--out", str(tmp_path / "x"), "--precision", "bf16", "--no-bf16", "--epochs", "1"]) != 0
    assert "--precision bf16 and --no-bf16 disagree" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
