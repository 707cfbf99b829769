"""FineFACE's training: each of the N + 2 steps trains what the SPEC says, with one optimizer;
no protected labels; end to end through the trainer, evaluation and an exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from facefair import TrainConfig, evaluate, train
from facefair.cli import main
from facefair.methods import Batch, get_method
from facefair.trainer import _Context, build_optimizer


class RecordingContext(_Context):
    """The trainer's context, noting which parameters each optimizer step changed."""

    def __init__(self, *a: object, **kw: object):
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.changed: list[set[str]] = []
        self.optimizers: set[int] = set()

    def step(self, loss: torch.Tensor) -> None:
        before = {k: p.detach().clone() for k, p in self.model.named_parameters()}
        super().step(loss)
        self.optimizers.add(id(self.optimizer))
        self.changed.append({k for k, p in self.model.named_parameters() if not torch.equal(p, before[k])})


def parts(names: set[str]) -> set[str]:
    """Parameter names -> their part: 'stage3', 'head1', 'clf2', 'concat'."""
    out = set()
    for k in names:
        f = k.split(".")
        if f[0] == "backbone":
            out.add(f"stage{int(f[2]) + 1}")
        elif f[0] == "heads":
            out.add(f"head{int(f[1]) + 1}")
        elif f[0] == "classifiers":
            out.add(f"clf{int(f[1]) + 1}")
        elif f[0] == "concat_classifier":
            out.add("concat")
    return out


def build(options: dict | None = None, seed: int = 0):
    torch.manual_seed(seed)
    method = get_method("fineface", {"width": 32, "hidden": 16, **(options or {})})
    cfg = TrainConfig(arch="tiny", method="fineface", **method.train_defaults)
    model = method.build_model(cfg, type("T", (), {"y_classes": ("no", "yes")})()).train()
    opt = build_optimizer(cfg, method.param_groups(model, cfg))
    ctx = RecordingContext(model, opt, cfg, torch.device("cpu"), torch.Generator().manual_seed(seed))
    return method, model, opt, ctx


def test_each_of_the_n_plus_2_steps_trains_what_the_spec_says() -> None:
    method, model, _, ctx = build()
    x, y = torch.rand(8, 3, 48, 48), torch.randint(0, 2, (8,))
    # protected labels are never read: an empty tensor would break any use of them
    for _ in range(2):  # the second iteration runs with momentum buffers present
        ctx.changed.clear()
        stats = method.train_step(model, Batch(x, y, torch.empty(0), torch.arange(8)), ctx)
        assert [parts(c) for c in ctx.changed] == [
            {"stage1", "stage2", "stage3", "stage4", "stage5", "head3", "clf3"},  # 1: expert 3, raw
            {"stage1", "stage2", "stage3", "stage4", "head2", "clf2"},  # 2: expert 2
            {"stage1", "stage2", "stage3", "head1", "clf1"},  # 3: expert 1
            {f"stage{s}" for s in range(1, 6)} | {"head1", "head2", "head3", "clf1", "clf2", "clf3", "concat"},
            {f"stage{s}" for s in range(1, 6)} | {"head1", "head2", "head3", "concat"},  # N+2: no expert clfs
        ]
    assert len(ctx.optimizers) == 1
    assert set(stats) >= {"loss", "expert1", "expert2", "expert3", "attention", "concat"}


def test_two_experts_make_four_steps() -> None:
    method, model, _, ctx = build({"stages": "4,5"})
    method.train_step(model, Batch(torch.rand(4, 3, 48, 48), torch.tensor([0, 1, 0, 1]), torch.empty(0),
                                   torch.arange(4)), ctx)
    assert len(ctx.changed) == 2 + 2
    assert parts(ctx.changed[1]) == {"stage1", "stage2", "stage3", "stage4", "head1", "clf1"}


def test_param_groups_carry_the_per_part_learning_rates() -> None:
    _, model, opt, _ = build({"head_lr": "0.01", "backbone_lr": "0.001"})
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == {"heads": 0.01, "backbone": 0.001}
    n_backbone = sum(1 for _ in model.backbone.parameters())
    assert len(opt.param_groups[1]["params"]) == n_backbone
    assert sum(len(g["params"]) for g in opt.param_groups) == sum(1 for _ in model.parameters())
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    assert opt.defaults["weight_decay"] == 5e-4


def test_the_shallower_experts_inputs_are_drawn_from_raw_and_other_crops() -> None:
    """Different generator seeds draw different inputs for steps 2..N, hence different weights."""
    x, y = torch.rand(8, 3, 48, 48), torch.randint(0, 2, (8,))
    results = []
    for gseed in range(4):
        method, model, _, ctx = build()
        ctx.generator.manual_seed(gseed)
        method.train_step(model, Batch(x, y, torch.empty(0), torch.arange(8)), ctx)
        results.append(model.heads[0].block[0].weight.detach().clone())
    assert any(not torch.equal(results[0], r) for r in results[1:])




def small_config(**kw: object) -> TrainConfig:
    return TrainConfig(dataset="synthetic", dataset_options={"n_train": 256, "n_val": 96, "n_test": 96},
                       arch="tiny", size=32, epochs=2, batch_size=32, method="fineface",
                       method_options={"width": 32, "hidden": 16}, optimizer="adam", lr=3e-3,
                       progress=False, **kw)  # type: ignore[arg-type]


def test_train_resume_and_evaluate_end_to_end(tmp_path: Path) -> None:
    full = train(small_config(), tmp_path / "full")
    train(small_config(), tmp_path / "cut", stop_after_steps=11)  # mid-epoch 2
    resumed = train(small_config(), tmp_path / "cut", resume=True)
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full.history[-1]["val_accuracy"] == resumed.history[-1]["val_accuracy"]
    report = evaluate(tmp_path / "full", n_boot=0, progress=False)
    raw = evaluate(tmp_path / "full", n_boot=0, progress=False, method_options={"inference": "raw"})
    assert (tmp_path / "full" / "metrics.json").is_file()
    doc = json.loads((tmp_path / "full" / "metrics-inference-raw.json").read_text())
    assert doc["method_options"]["inference"] == "raw"
    assert 0.0 <= report.overall["accuracy"] <= 1.0 and 0.0 <= raw.overall["accuracy"] <= 1.0


def test_cli_gives_fineface_the_papers_optimizer_unless_told(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    common = ["train", "--method", "fineface", "--method-opt", "width=16", "--method-opt", "hidden=8",
              "--data-opt", "n_train=64", "--data-opt", "n_val=32", "--data-opt", "n_test=32",
              "--size", "32", "--epochs", "1", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert (cfg["optimizer"], cfg["momentum"], cfg["weight_decay"]) == ("sgd", 0.9, 5e-4)
    assert main([*common, "--optimizer", "adam", "--weight-decay", "0", "--out", str(tmp_path / "b")]) == 0
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    assert (cfg["optimizer"], cfg["weight_decay"]) == ("adam", 0.0)
    assert main(["evaluate", str(tmp_path / "a"), "--bootstrap", "0", "--no-progress",
                 "--method-opt", "inference=expert1"]) == 0
    assert (tmp_path / "a" / "metrics-inference-expert1.json").is_file()
    assert main(["evaluate", str(tmp_path / "a"), "--no-progress", "--method-opt", "inference=expert9"]) == 2
    assert "expert1..expert3" in capsys.readouterr().err
    assert main(["methods", "fineface"]) == 0
    assert "head_lr" in capsys.readouterr().out
