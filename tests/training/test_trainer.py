"""The one trainer: it learns, shows the planted bias, is seeded, resumes exactly, selects on val."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from facefair import TrainConfig, evaluate, train
from facefair.checkpoint import load_checkpoint, save_atomic
from facefair.errors import ConfigError, DataError
from facefair.metrics import fairness_report, read_predictions


def small_config(**kw) -> TrainConfig:
    base = {"dataset": "synthetic", "target": "smile", "protected": "group", "arch": "tiny", "size": 32,
                "dataset_options": {"n_train": 512, "n_val": 128, "n_test": 256, "correlation": 0.8},
                "epochs": 2, "batch_size": 64, "lr": 3e-3, "progress": False,
                # a fixed thread count: the default follows the machine's load, and float sums differ by it,
                # so two runs compared to the bit must not depend on what else the machine runs
                "threads": 2}
    base.update(kw)
    return TrainConfig(**base)




def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoints" / "last.pt")["model"]


def test_base_model_learns_and_shows_the_planted_bias(tmp_path: Path) -> None:
    cfg = small_config(size=48, epochs=6, dataset_options={"n_train": 3000, "n_val": 500, "n_test": 1500,
                                                           "correlation": 0.8})
    train(cfg, tmp_path / "run")
    m = evaluate(tmp_path / "run", n_boot=200, progress=False)
    assert m.overall["accuracy"] > 0.7
    # the skin-tone shortcut: smiling is predicted more often for group B, at equal true rates
    by = {g["group"]: g for g in m.groups}
    assert by["B"]["selection_rate"] - by["A"]["selection_rate"] > 0.1
    assert m.overall["equal_opportunity_diff"] > 0.1
    assert m.ci["equal_opportunity_diff"][0] > 0.05  # the gap is real, not noise


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    train(small_config(seed=5), tmp_path / "a")
    train(small_config(seed=5), tmp_path / "b")
    train(small_config(seed=6), tmp_path / "c")
    wa, wb, wc = (final_weights(tmp_path / r) for r in "abc")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    la = (tmp_path / "a" / "log.jsonl").read_text().splitlines()
    lb = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    strip = lambda line: {k: v for k, v in json.loads(line).items() if "seconds" not in k and "per_s" not in k}
    assert [strip(x) for x in la] == [strip(x) for x in lb]


@pytest.mark.parametrize("stop_after", [3, 8, 13])  # mid-epoch 1, exactly at epoch end, mid-epoch 2
def test_resume_continues_exactly(tmp_path: Path, stop_after: int) -> None:
    cfg = small_config(epochs=2, checkpoint_every=2)
    train(cfg, tmp_path / "whole")
    train(small_config(epochs=2, checkpoint_every=2), tmp_path / "cut", stop_after_steps=stop_after)
    cut = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert cut["global_step"] == stop_after
    train(small_config(epochs=2, checkpoint_every=2), tmp_path / "cut", resume=True)
    w1, w2 = final_weights(tmp_path / "whole"), final_weights(tmp_path / "cut")
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    h1 = [json.loads(x)["val_accuracy"] for x in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    h2 = [json.loads(x)["val_accuracy"] for x in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert h1 == h2


def test_existing_run_needs_resume(tmp_path: Path) -> None:
    train(small_config(epochs=1), tmp_path / "r")
    with pytest.raises(ConfigError, match="--resume"):
        train(small_config(epochs=1), tmp_path / "r")


def test_best_epoch_is_chosen_on_validation(tmp_path: Path) -> None:
    res = train(small_config(epochs=4, lr=0.05), tmp_path / "r")
    hist = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    accs = [h["val_accuracy"] for h in hist]
    assert res.best_epoch == len(accs) - int(np.argmax(accs[::-1]))  # the last of the maxima
    best = json.loads((tmp_path / "r" / "best.json").read_text())
    assert best["epoch"] == res.best_epoch


def test_evaluate_writes_predictions_that_reproduce_metrics(tmp_path: Path) -> None:
    train(small_config(), tmp_path / "r")
    rep = evaluate(tmp_path / "r", n_boot=100, progress=False)
    doc = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert doc["split"] == "test" and doc["n"] == 256
    preds = read_predictions(tmp_path / "r" / "predictions.csv")
    again = fairness_report(preds.y, preds.pred, preds.group, score=preds.score).overall
    assert "auc" in again and 0.0 <= again["auc"] <= 1.0
    # counts give the same metrics exactly; the AUC reads scores the CSV rounded to 6 places
    assert again == pytest.approx(rep.overall, abs=1e-4)
    assert doc["metrics"]["accuracy"] == pytest.approx(again["accuracy"])
    assert ((preds.score >= 0.5) == (preds.pred == 1)).mean() > 0.99
    val = evaluate(tmp_path / "r", split="val", n_boot=0, progress=False)
    assert (tmp_path / "r" / "metrics-val.json").is_file() and val.n == 128


def test_checkpoints_are_safe(tmp_path: Path) -> None:
    save_atomic({"model": {"w": torch.ones(3)}}, tmp_path / "c.pt")
    assert not list(tmp_path.glob(".*tmp"))
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated, empty or foreign"):
        load_checkpoint(tmp_path / "trunc.pt")

    class Evil:
        def __reduce__(self):  # would run code if unpickled without weights_only
            return (exec, ("raise SystemExit('executed')",))

    torch.save({"model": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(DataError, match="truncated, empty or foreign"):
        load_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(DataError, match="expected keys"):
        load_checkpoint(tmp_path / "c.pt", expect=("optimizer",))


def test_diverging_loss_names_step_and_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(FloatingPointError, match=r"at epoch 1, step \d+ \(global step \d+; batch images "
                                                 r"[^,]+, [^,]+, .*\); last good checkpoint: none yet"):
        train(small_config(lr=float("inf"), clip=None, optimizer="sgd"), tmp_path / "r")


@pytest.mark.parametrize("native", [True, False])
def test_bf16_and_channels_last_train(tmp_path: Path, monkeypatch, caplog, native: bool) -> None:
    """bf16 trains either way; where the CPU only emulates it (10x slower than fp32 on an
    AVX2-only EPYC) the log says so and how to turn it off."""
    import facefair.trainer

    assert isinstance(facefair.trainer.cpu_has_native_bf16(), bool)  # torch's check still answers
    monkeypatch.setattr(facefair.trainer, "cpu_has_native_bf16", lambda: native)
    caplog.set_level(logging.INFO, logger="facefair")
    res = train(small_config(epochs=1, bf16=True, channels_last=True), tmp_path / "r")
    assert res.best_epoch == 1 and res.history[0]["val_accuracy"] > 0.3
    assert any(r.name == "facefair.trainer" for r in caplog.records)  # the trainer's messages go through logging
    warned = [x for x in caplog.messages if "warning: this CPU has no native bf16" in x]
    assert len(warned) == (0 if native else 1) and all("--set precision=fp32" in x for x in warned)
    assert any("epoch on cpu in bf16 (asked for)" in x for x in caplog.messages)  # the line that starts it
    caplog.clear()
    train(small_config(epochs=1, precision="fp32"), tmp_path / "fp32")  # fp32: no warning
    assert any("on cpu in fp32 (asked for)" in x for x in caplog.messages)
    assert not any("warning" in x for x in caplog.messages)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_is_fused_and_agrees_with_the_per_tensor_loops(name: str) -> None:
    # fused: 5.5 ms a ResNet-18 step against 33 (src/facefair/trainer.py); same update to ~1e-6
    import copy

    import torch.nn.functional as F

    from facefair.models import build_model
    from facefair.trainer import build_optimizer

    torch.manual_seed(0)
    a = build_model("tiny")
    b, start = copy.deepcopy(a), copy.deepcopy(a)
    cfg = TrainConfig(optimizer=name, lr=1e-3, weight_decay=1e-2)
    fused = build_optimizer(cfg, [{"params": list(a.parameters())}])
    assert fused.defaults["fused"] is True
    loops = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    ref = loops(b.parameters(), lr=1e-3, weight_decay=1e-2, foreach=True)
    x, y = torch.rand(16, 3, 32, 32), torch.randint(0, 2, (16,))
    for _ in range(10):
        for model, opt in ((a, fused), (b, ref)):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    moved = max((p - q).abs().max().item() for p, q in zip(a.parameters(), start.parameters()))
    diff = max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))
    assert diff < 1e-5 < moved
