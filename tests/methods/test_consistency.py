"""Consistency regularisation: the Jensen-Shannon term is zero for identical views and positive
otherwise, the augmentations are seeded, and the term changes the update only when the views
differ."""

from __future__ import annotations

import torch

from facefair.config import TrainConfig
from facefair.methods import Batch, get_method
from facefair.methods.consistency import ConsistencyOptions, augment, js_divergence
from facefair.models import build_model
from facefair.trainer import _Context, build_optimizer


def test_js_divergence_is_zero_only_for_equal_predictions() -> None:
    a = torch.randn(8, 2)
    assert float(js_divergence([a, a.clone(), a.clone()])) < 1e-6
    assert float(js_divergence([a, a + torch.tensor([1.0, -1.0])])) > 1e-3
    p, q = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, torch.log(torch.tensor(3.0))]])  # (1/2, 1/2) vs (1/4, 3/4)
    m = torch.tensor([3 / 8, 5 / 8])
    kl = lambda x: float((x * (x / m).log()).sum())
    assert abs(float(js_divergence([p, q])) - (kl(torch.tensor([0.5, 0.5])) + kl(torch.tensor([0.25, 0.75]))) / 2) < 1e-6


def test_augment_is_seeded_bounded_and_the_identity_at_zero_strength() -> None:
    x = torch.rand(4, 3, 24, 24)
    o = ConsistencyOptions()
    v1 = augment(x, o, torch.Generator().manual_seed(3))
    assert torch.equal(v1, augment(x, o, torch.Generator().manual_seed(3)))
    assert not torch.equal(v1, augment(x, o, torch.Generator().manual_seed(4)))
    assert v1.shape == x.shape and float(v1.min()) >= 0 and float(v1.max()) <= 1
    still = ConsistencyOptions(rotate=0.0, jitter=0.0, min_scale=1.0)
    assert torch.allclose(augment(x, still, torch.Generator().manual_seed(3)), x, atol=1e-5)


def one_step(options: dict[str, object]) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model("tiny")
    cfg = TrainConfig(optimizer="sgd", lr=0.1)
    method = get_method("consistency", options) if options is not None else get_method("erm")
    opt = build_optimizer(cfg, method.param_groups(model, cfg))
    ctx = _Context(model, opt, cfg, torch.device("cpu"), torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    batch = Batch(torch.rand(8, 3, 32, 32, generator=g), torch.tensor([0, 1] * 4), torch.zeros(8, dtype=torch.long),
                  torch.arange(8))
    model.eval()  # BatchNorm on its running statistics: the extra views do not change the batch's normalisation
    method.train_step(model, batch, ctx)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_the_term_changes_the_update_only_when_the_views_differ() -> None:
    erm = one_step(None)  # type: ignore[arg-type]
    same = one_step({"rotate": 0.0, "jitter": 0.0, "min_scale": 1.0, "weight": 1000.0})
    differ = one_step({"weight": 1000.0})
    off = one_step({"weight": 0.0})
    assert all(torch.allclose(erm[k], same[k], atol=1e-5) for k in erm)  # identical views: CE's step
    assert all(torch.allclose(erm[k], off[k], atol=1e-6) for k in erm)
    assert any(not torch.allclose(erm[k], differ[k], atol=1e-5) for k in erm)
