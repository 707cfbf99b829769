"""ASAC's mechanism: difficulty in eval mode, curriculum that changes training, bounded memory."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from facefair import TrainConfig, evaluate, train
from facefair.config import TrainConfig as Cfg
from facefair.errors import ConfigError
from facefair.methods import Batch, get_method
from facefair.methods.asac import _ASACs, curriculum_order, difficulty
from facefair.mitigation import mitigate
from facefair.models import build_model
from facefair.models.protected import probe_on_frozen_copy
from facefair.trainer import _Context, build_optimizer


def setup_asac(options: dict, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model("tiny")
    x = torch.rand(16, 3, 32, 32)
    y, a = torch.randint(0, 2, (16,)), torch.randint(0, 2, (16,))
    method = get_method("asac", options)
    method.use_classifier(probe_on_frozen_copy(model, [(x, a)], 2, epochs=5), "probe", torch.device("cpu"))
    return model, method, Batch(x, y, a, torch.arange(16))


def step_once(model, method, batch, seed: int = 0) -> None:
    cfg = Cfg(lr=1e-2)
    opt = build_optimizer(cfg, [{"params": list(model.parameters())}])
    ctx = _Context(model, opt, cfg, torch.device("cpu"), torch.Generator().manual_seed(seed))
    method.train_step(model, batch, ctx)


def test_options_always_include_clean_eps_and_validate() -> None:
    assert get_method("asac", {"eps": "0.01,0.001"}).options.eps == (0.0, 0.01, 0.001)
    with pytest.raises(ConfigError, match="order"):
        get_method("asac", {"order": "sideways"})
    with pytest.raises(ConfigError, match="alpha"):
        get_method("asac", {"alpha": "1.5"})


def test_difficulty_is_one_minus_true_class_softmax_in_eval_mode() -> None:
    torch.manual_seed(0)
    model = build_model("tiny").train()
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 2, (8,))
    ds = difficulty(model, x, y)
    assert model.training  # restored
    model.eval()
    with torch.no_grad():
        ref = 1 - model(x).softmax(1)[torch.arange(8), y]
    assert torch.allclose(ds, ref)
    model.train()
    with torch.no_grad():
        train_mode = 1 - model(x).softmax(1)[torch.arange(8), y]
    assert not torch.allclose(ds, train_mode)  # BatchNorm batch statistics would differ


def test_curriculum_orders() -> None:
    ds = torch.tensor([[0.5, 0.1], [0.2, 0.9], [0.7, 0.3]])  # (k=3 images, l=2 eps)
    # pair id p = j * k + i: flat DS in generation order = [0.5, 0.2, 0.7, 0.1, 0.9, 0.3]
    assert curriculum_order(ds, "ascending").tolist() == [3, 1, 5, 0, 2, 4]
    assert curriculum_order(ds, "descending").tolist() == [4, 2, 0, 5, 1, 3]
    assert curriculum_order(ds, "none").tolist() == [0, 1, 2, 3, 4, 5]
    r = curriculum_order(ds, "random", torch.Generator().manual_seed(0))
    assert sorted(r.tolist()) == list(range(6))


def test_curriculum_order_changes_the_weights() -> None:
    results = {}
    for order in ("ascending", "descending"):
        model, method, batch = setup_asac({"order": order, "eps": "0,0.05,0.1"})
        step_once(model, method, batch)
        results[order] = model.state_dict()
    a, d = results["ascending"], results["descending"]
    assert any(not torch.equal(a[k], d[k]) for k in a if a[k].is_floating_point())


def test_order_none_with_alpha_one_is_plain_clean_finetuning() -> None:
    model, method, batch = setup_asac({"order": "none", "alpha": "1.0", "eps": "0,0.05,0.1"})
    ref = copy.deepcopy(model)
    step_once(model, method, batch)
    cfg = Cfg(lr=1e-2)
    opt = build_optimizer(cfg, [{"params": list(ref.parameters())}])
    ref.train()
    for _ in range(3):  # l micro-batches, each the clean minibatch
        loss = F.cross_entropy(ref(batch.x), batch.y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        opt.step()
    sa, sb = model.state_dict(), ref.state_dict()
    assert all(torch.allclose(sa[k].float(), sb[k].float(), atol=1e-6) for k in sa)


def test_pgd_regeneration_bounds_memory_and_matches_cache() -> None:
    _, cached_m, batch = setup_asac({"attack": "pgd", "eps": "0,0.03", "steps": "3"})
    _, regen_m, _ = setup_asac({"attack": "pgd", "eps": "0,0.03", "steps": "3", "cache_mb": "0"})
    cached = _ASACs(cached_m, batch.x, batch.group, seed=7)
    regen = _ASACs(regen_m, batch.x, batch.group, seed=7)
    assert cached.cache is not None and regen.cache is None
    i = torch.tensor([3, 0, 9, 3])
    j = torch.tensor([1, 1, 0, 0])
    assert torch.allclose(cached.take(i, j), regen.take(i, j), atol=1e-6)
    fg = _ASACs(setup_asac({})[1], batch.x, batch.group, seed=0)
    assert fg.cache is None and fg.direction.shape == batch.x.shape  # FGSM keeps one copy


def small(**kw) -> TrainConfig:
    return TrainConfig(arch="tiny", size=32, epochs=1, batch_size=32, progress=False,
                       dataset_options={"n_train": 256, "n_val": 64, "n_test": 128}, **kw)


def test_mitigate_end_to_end_and_resume(tmp_path: Path) -> None:
    train(small(), tmp_path / "base")
    res = mitigate("asac", tmp_path / "base", tmp_path / "asac", {"eps": "0,0.01"}, epochs=2,
                   checkpoint_every=3)
    cfg = json.loads((tmp_path / "asac" / "config.json").read_text())
    assert cfg["method"] == "asac" and cfg["init"] == str(tmp_path / "base") and cfg["schedule"] == "constant"
    rep = evaluate(tmp_path / "asac", n_boot=0, progress=False)
    assert rep.n == 128 and res.best_epoch >= 1
    # a killed mitigation resumes exactly (C is restored from the checkpoint, not refitted)
    mitigate("asac", tmp_path / "base", tmp_path / "cut", {"eps": "0,0.01"}, epochs=2,
             checkpoint_every=3)
    from facefair.checkpoint import load_checkpoint

    w_full = load_checkpoint(tmp_path / "asac" / "checkpoints" / "last.pt")["model"]
    train(TrainConfig.load(tmp_path / "cut" / "config.json"), tmp_path / "cut2",
          stop_after_steps=5)
    mitigate("asac", tmp_path / "base", tmp_path / "cut2", resume=True)
    w_res = load_checkpoint(tmp_path / "cut2" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(w_full[k], w_res[k]) for k in w_full)


def test_attack_label_predicted_reads_no_protected_label() -> None:
    """With attack_label=predicted the step is the same whatever the batch's protected labels
    say (they are never read); with the true labels it follows them."""
    model, method, batch = setup_asac({"attack_label": "predicted", "eps": "0,0.05"})
    pred = method.classifier(batch.x).argmax(1)
    assert torch.equal(method.attack_labels(batch.x, 1 - batch.group), pred)
    results = []
    for group in (batch.group, 1 - batch.group):
        m = copy.deepcopy(model)
        step_once(m, method, Batch(batch.x, batch.y, group, batch.index))
        results.append(m.state_dict())
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])
    truth = get_method("asac", {"eps": "0,0.05"})
    truth.use_classifier(method.classifier, "probe", torch.device("cpu"))
    assert torch.equal(truth.attack_labels(batch.x, batch.group), batch.group)
    with pytest.raises(ConfigError, match="attack-label"):
        get_method("asac", {"attack_label": "guess"})


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
@pytest.mark.parametrize("precision,dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_attack_on_c_runs_in_the_training_precision(attack: str, precision: str, dtype: torch.dtype) -> None:
    # an fp32 attack under a bf16 run cost twice the model's passes (docs/BENCHMARKS.md)
    model, method, batch = setup_asac({"attack": attack, "steps": "2"})
    seen: list[torch.dtype] = []
    first_conv = next(m for m in method.classifier.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    cfg = Cfg(lr=1e-2, precision=precision)
    opt = build_optimizer(cfg, [{"params": list(model.parameters())}])
    before = {k: v.clone() for k, v in method.classifier.state_dict().items()}
    method.train_step(model, batch, _Context(model, opt, cfg, torch.device("cpu"), torch.Generator().manual_seed(0)))
    assert seen and set(seen) == {dtype}
    # C stays fixed and its input gradient came back in the images' dtype (the images move)
    assert all(torch.equal(v, method.classifier.state_dict()[k]) for k, v in before.items())
    xs = _ASACs(method, batch.x, batch.group, 0)
    assert xs.full(1).dtype == torch.float32 and not torch.equal(xs.full(1), batch.x)
