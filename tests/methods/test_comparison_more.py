"""Mechanisms of the remaining comparison methods on the synthetic biased faces: Zhang & Sang's
augmentation, balanced resampling, adversarial debiasing, Fair Mixup, the regularised loss and
multi-task learning; each trains end to end and resumes exactly on the one trainer."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facefair import evaluate, train
from facefair.config import TrainConfig
from facefair.data import load_dataset
from facefair.data.loader import SplitImages, batch_order, to_input
from facefair.errors import ConfigError
from facefair.methods import Batch, RunSetup, get_method
from facefair.methods.adversarial_debias import debiased_gradient
from facefair.methods.fair_mixup import mixup_pairs, positive_score
from facefair.methods.regularized import soft_gap
from facefair.mitigation import mitigate, mitigation_config
from facefair.models import build_model
from facefair.models.protected import probe_on_frozen_copy
from facefair.trainer import _Context, build_optimizer


def synthetic_batch(n: int = 32, size: int = 32, seed: int = 0) -> Batch:
    """A batch of the planted-bias synthetic faces (smiling correlates with group)."""
    task = load_dataset("synthetic", n_train=n, n_val=20, n_test=20, size=size, seed=seed,
                        correlation=0.8).task("smile", "group")
    ds = SplitImages(task, task.indices("train"), size)
    b = ds[list(range(n))]
    return Batch(to_input(b["x"]), b["y"], b["group"], b["index"])


def sgd_ctx(model: torch.nn.Module, lr: float = 0.1, seed: int = 0) -> _Context:
    cfg = TrainConfig(optimizer="sgd", lr=lr, momentum=0.0, weight_decay=0.0, clip=None)
    return _Context(model, build_optimizer(cfg, [{"params": list(model.parameters())}]), cfg,
                    torch.device("cpu"), torch.Generator().manual_seed(seed))


# -- Zhang & Sang ------------------------------------------------------------------------------
def test_zhang_sang_adds_images_that_push_C_off_the_group_to_an_equally_weighted_batch() -> None:
    torch.manual_seed(0)
    batch = synthetic_batch()
    model = build_model("tiny")
    method = get_method("zhang_sang", {"eps": "0,0.05,0.02"})
    assert method.options.eps == (0.05, 0.02)  # the clean image is always in the batch
    clf = probe_on_frozen_copy(model, [(batch.x, batch.group)], 2, epochs=20)
    method.use_classifier(clf, "probe", torch.device("cpu"))
    advs = method.augment(batch.x, batch.group, torch.Generator().manual_seed(0))
    with torch.no_grad():
        clean_loss = F.cross_entropy(clf(batch.x), batch.group)
        for e, xa in zip((0.05, 0.02), advs, strict=True):
            assert (xa - batch.x).abs().max() <= e + 1e-6 and xa.min() >= 0 and xa.max() <= 1
            assert F.cross_entropy(clf(xa), batch.group) > clean_loss  # C is pushed off the group
    # the step's loss is the plain mean CE over clean + adversarial images: no alpha, no curriculum
    model.eval()
    with torch.no_grad():
        ref = F.cross_entropy(model(torch.cat([batch.x, *advs])), batch.y.repeat(3))
    model.train = lambda mode=True: model  # keep BatchNorm in eval so reference and step agree
    stats = method.train_step(model, batch, sgd_ctx(model))
    assert stats["loss"] == pytest.approx(float(ref), rel=1e-5)
    with pytest.raises(ConfigError, match="non-zero"):
        get_method("zhang_sang", {"eps": "0"})


def test_zhang_sang_pgd_images_stay_in_the_ball() -> None:
    torch.manual_seed(0)
    batch = synthetic_batch(16)
    model = build_model("tiny")
    method = get_method("zhang_sang", {"attack": "pgd", "eps": "0.03", "steps": 3})
    method.use_classifier(probe_on_frozen_copy(model, [(batch.x, batch.group)], 2, epochs=5), "probe",
                          torch.device("cpu"))
    (xa,) = method.augment(batch.x, batch.group, torch.Generator().manual_seed(1))
    assert 0 < (xa - batch.x).abs().max() <= 0.03 + 1e-6


# -- balanced resampling -----------------------------------------------------------------------
def test_resampling_draws_every_class_group_cell_equally_often_and_repeats_by_seed() -> None:
    task = load_dataset("synthetic", n_train=2000, n_val=10, n_test=10, size=16, correlation=0.8).task("smile", "group")
    ds = SplitImages(task, task.indices("train"), 16)
    run = RunSetup(TrainConfig(), task, torch.device("cpu"), Path("."), ds)
    w = get_method("resample").sample_weights(run)
    y, g = task.y[ds.indices], task.group[ds.indices]
    before = np.bincount(y * 2 + g, minlength=4) / len(y)
    assert before.max() > 3 * before.min()  # the planted bias
    drawn = np.concatenate([np.concatenate(batch_order(len(ds), 64, True, 0, e, True, w)) for e in range(5)])
    after = np.bincount(y[drawn] * 2 + g[drawn], minlength=4) / len(drawn)
    assert np.allclose(after, 0.25, atol=0.02)
    assert batch_order(len(ds), 64, True, 3, 1, True, w) == batch_order(len(ds), 64, True, 3, 1, True, w)
    assert batch_order(len(ds), 64, True, 3, 1, True, w) != batch_order(len(ds), 64, True, 3, 2, True, w)
    with pytest.raises(ConfigError, match="sampling weights"):
        batch_order(4, 2, True, 0, 0, weights=np.array([1.0, -1, 1, 1]))


# -- adversarial debiasing ---------------------------------------------------------------------
def test_debiased_gradient_removes_the_adversary_helping_part() -> None:
    gp = [torch.tensor([3.0, 1.0]), torch.tensor([2.0])]
    ga = [torch.tensor([1.0, 0.0]), torch.tensor([1.0])]
    # proj of (3,1,2) on (1,0,1) = 5/2 (1,0,1); minus 0.5 * (1,0,1)
    out = torch.cat(debiased_gradient(gp, ga, alpha=0.5))
    assert torch.allclose(out, torch.tensor([3 - 2.5 - 0.5, 1.0, 2 - 2.5 - 0.5]))
    assert float(torch.cat(debiased_gradient(gp, ga, alpha=0.0)) @ torch.tensor([1.0, 0.0, 1.0])) == pytest.approx(0)
    assert torch.allclose(torch.cat(debiased_gradient(gp, ga, 0.5, projection=False)), torch.tensor([2.5, 1.0, 1.5]))


@pytest.mark.parametrize("criterion", ["eo", "dp"])
def test_adversarial_debias_step_applies_the_projected_update(criterion: str) -> None:
    torch.manual_seed(0)
    batch = synthetic_batch()
    method = get_method("adversarial_debias", {"criterion": criterion, "alpha": 0.7})
    task = load_dataset("synthetic", n_train=8, n_val=20, n_test=20, size=32).task("smile", "group")
    model = method.build_model(TrainConfig(arch="tiny"), task).eval()
    model.train = lambda mode=True: model  # BatchNorm in eval: the reference sees the same function
    ref = copy.deepcopy(model)
    pred = [p for n, p in ref.named_parameters() if not n.startswith("adversary.")]
    adv = list(ref.adversary.parameters())
    logits = ref(batch.x)
    lp = F.cross_entropy(logits, batch.y)
    la = F.cross_entropy(ref.adversary(logits, batch.y), batch.group)
    gp = torch.autograd.grad(lp, pred, retain_graph=True, allow_unused=True)
    ga = torch.autograd.grad(la, pred + adv, allow_unused=True)
    z = lambda g, p: g if g is not None else torch.zeros_like(p)
    gp = [z(g, p) for g, p in zip(gp, pred, strict=True)]
    gap = [z(g, p) for g, p in zip(ga[:len(pred)], pred, strict=True)]
    expected = debiased_gradient(gp, gap, 0.7) + [z(g, p) for g, p in zip(ga[len(pred):], adv, strict=True)]
    assert float(sum((g * g).sum() for g in gap)) > 0  # the adversary's loss reaches the predictor
    before = [p.detach().clone() for p in ref.parameters()]
    method.train_step(model, batch, sgd_ctx(model, lr=0.1))
    names = [n for n, _ in ref.named_parameters() if not n.startswith("adversary.")] + \
            [n for n, _ in ref.named_parameters() if n.startswith("adversary.")]
    params = dict(model.named_parameters())
    start = dict(zip([n for n, _ in ref.named_parameters()], before, strict=True))
    for n, g in zip(names, expected, strict=True):
        assert torch.allclose(params[n].detach(), start[n] - 0.1 * g, atol=1e-6), n


# -- Fair Mixup --------------------------------------------------------------------------------
def test_mixup_pairs_cross_groups_within_a_class_for_eo() -> None:
    y = torch.tensor([0, 0, 1, 1, 1, 0, 1, 0])
    g = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1])
    gen = torch.Generator().manual_seed(0)
    for i0, i1 in mixup_pairs(y, g, "eo", 50, gen):
        assert (g[i0] == 0).all() and (g[i1] == 1).all() and (y[i0] == y[i1]).all()
    assert len(mixup_pairs(y, g, "eo", 5, gen)) == 2 and len(mixup_pairs(y, g, "dp", 5, gen)) == 1
    assert mixup_pairs(y, torch.zeros_like(g), "dp", 5, gen) == []  # one group: nothing to mix


def test_fair_mixup_penalty_is_the_path_derivative_of_the_mean_score() -> None:
    torch.manual_seed(0)
    batch = synthetic_batch()
    model = build_model("tiny").eval().double()
    x0, x1 = batch.x[batch.group == 0][:6].double(), batch.x[batch.group == 1][:6].double()
    t, h = 0.3, 1e-7
    xt = (t * x0 + (1 - t) * x1).requires_grad_(True)
    (gx,) = torch.autograd.grad(positive_score(model(xt)).sum(), xt)
    analytic = (gx * (x0 - x1)).flatten(1).sum(1).mean()
    with torch.no_grad():
        f = lambda s: positive_score(model(s * x0 + (1 - s) * x1)).mean()
        numeric = (f(t + h) - f(t - h)) / (2 * h)
    assert float(analytic) == pytest.approx(float(numeric), rel=1e-4, abs=1e-8)


def test_fair_mixup_penalty_enters_the_update() -> None:
    torch.manual_seed(0)
    batch = synthetic_batch()
    base = build_model("tiny")
    results = {}
    for w in (0.0, 5.0):
        model = copy.deepcopy(base)
        stats = get_method("fair_mixup", {"weight": w}).train_step(model, batch, sgd_ctx(model))
        results[w] = (stats, torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert results[5.0][0]["mixup_penalty"] > 0
    assert results[0.0][0]["loss"] == pytest.approx(results[5.0][0]["loss"])  # same CE
    assert not torch.allclose(results[0.0][1], results[5.0][1])


# -- regularised loss --------------------------------------------------------------------------
def test_soft_gap_known_answers() -> None:
    p = torch.tensor([0.9, 0.7, 0.2, 0.4, 0.6, 0.1])
    y = torch.tensor([1, 1, 0, 1, 0, 0])
    g = torch.tensor([0, 1, 0, 1, 1, 0])
    # DP: group 0 mean (0.9+0.2+0.1)/3 = 0.4, group 1 (0.7+0.4+0.6)/3 = 0.5667
    assert float(soft_gap(p, y, g, "dp")) == pytest.approx(0.5667 - 0.4, abs=1e-4)
    # y=1: g0 0.9, g1 0.55 -> 0.35; y=0: g0 0.15, g1 0.6 -> 0.45
    assert float(soft_gap(p, y, g, "eopp")) == pytest.approx(0.35)
    assert float(soft_gap(p, y, g, "eo")) == pytest.approx(0.80)
    assert float(soft_gap(p, y, torch.zeros_like(g), "eo")) == 0.0


@pytest.mark.parametrize("criterion", ["dp", "eo", "eopp"])
def test_regularized_step_follows_ce_plus_weighted_gap(criterion: str) -> None:
    torch.manual_seed(0)
    batch = synthetic_batch(64)
    model = build_model("tiny").eval()
    model.train = lambda mode=True: model  # BatchNorm in eval: the reference sees the same function
    ref = copy.deepcopy(model)
    logits = ref(batch.x)
    gap = soft_gap(positive_score(logits), batch.y, batch.group, criterion)
    assert float(gap.detach()) > 0
    loss = F.cross_entropy(logits, batch.y) + 3.0 * gap
    grads = torch.autograd.grad(loss, list(ref.parameters()), allow_unused=True)
    stats = get_method("regularized", {"criterion": criterion, "weight": 3.0}).train_step(model, batch, sgd_ctx(model))
    assert stats["gap"] == pytest.approx(float(gap.detach()), rel=1e-5)
    for p, q, g in zip(model.parameters(), ref.parameters(), grads, strict=True):
        expected = q.detach() - 0.1 * (g if g is not None else 0)
        assert torch.allclose(p.detach(), expected, atol=1e-6)


# -- multi-task --------------------------------------------------------------------------------
def test_multitask_trains_the_protected_head_with_its_weight() -> None:
    torch.manual_seed(0)
    batch = synthetic_batch()
    base = build_model("tiny").eval()
    moved = {}
    for w in (0.0, 1.0):
        model = copy.deepcopy(base)
        model.train = lambda mode=True, m=model: m
        stats = get_method("multitask", {"weight": w}).train_step(model, batch, sgd_ctx(model))
        moved[w] = not torch.equal(model.probe.weight, base.probe.weight)
        with torch.no_grad():
            assert stats["protected_loss"] == pytest.approx(
                float(F.cross_entropy(base.probe(base.features(batch.x)), batch.group)), rel=1e-5)
    assert moved == {0.0: False, 1.0: True}


# -- end to end on the one trainer -------------------------------------------------------------
def _cfg(method: str) -> TrainConfig:
    return TrainConfig(dataset="synthetic", dataset_options={"n_train": 256, "n_val": 64, "n_test": 64},
                       arch="tiny", size=32, epochs=2, batch_size=32, method=method, progress=False)


def _same_weights(a: Path, b: Path) -> bool:
    wa = torch.load(a / "checkpoints" / "last.pt", weights_only=True)["model"]
    wb = torch.load(b / "checkpoints" / "last.pt", weights_only=True)["model"]
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize("method", ["resample", "adversarial_debias", "fair_mixup", "regularized", "multitask"])
def test_end_to_end_with_exact_resume(tmp_path, method: str) -> None:
    train(_cfg(method), tmp_path / "full")
    train(_cfg(method), tmp_path / "cut", stop_after_steps=5)
    train(_cfg(method), tmp_path / "cut", resume=True)
    assert _same_weights(tmp_path / "full", tmp_path / "cut")
    report = evaluate(tmp_path / "full", n_boot=0, progress=False)
    assert 0.0 <= report.overall["accuracy"] <= 1.0


def test_zhang_sang_mitigates_a_trained_run_and_resumes_exactly(tmp_path) -> None:
    train(_cfg("erm"), tmp_path / "base")
    opts = {"probe_epochs": 3}
    mitigate("zhang_sang", tmp_path / "base", tmp_path / "full", opts, epochs=1)
    cfg = mitigation_config("zhang_sang", tmp_path / "base", opts, epochs=1)
    train(cfg, tmp_path / "cut", stop_after_steps=3)  # killed after 3 steps
    mitigate("zhang_sang", tmp_path / "base", tmp_path / "cut", opts, resume=True)
    assert _same_weights(tmp_path / "full", tmp_path / "cut")


def test_adversarial_debias_fine_tunes_a_trained_run_with_a_fresh_adversary(tmp_path, caplog) -> None:
    train(_cfg("erm"), tmp_path / "base")
    caplog.set_level(logging.INFO, logger="facefair")
    mitigate("adversarial_debias", tmp_path / "base", tmp_path / "adv", epochs=1)
    assert any("adversary.* start fresh" in n for n in caplog.messages)
    base = torch.load(tmp_path / "base" / "checkpoints" / "best.pt", weights_only=True)
    start = mitigation_config("adversarial_debias", tmp_path / "base", epochs=1)
    assert start.init == str(tmp_path / "base")
    tuned = torch.load(tmp_path / "adv" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert set(tuned) == set(base) | {k for k in tuned if k.startswith("adversary.")}
