"""Comparison methods' mechanisms on the synthetic biased faces: reweighting balances the
(class, group) cells; domain-independent heads are chosen by group in training and combined
by the paper's rules at inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facefair.config import TrainConfig
from facefair.data import load_dataset
from facefair.errors import DataError
from facefair.methods import Batch, get_method
from facefair.methods.domain_independent import per_group_logits
from facefair.methods.reweight import cell_weights
from facefair.models import build_model
from facefair.trainer import _Context, build_optimizer


def test_cell_weights_known_answer_and_empty_cell() -> None:
    y = np.array([0, 0, 0, 1, 1, 0])
    g = np.array([0, 0, 1, 1, 0, 1])  # cells (0,0): 2, (0,1): 2, (1,0): 1, (1,1): 1
    assert np.allclose(cell_weights(y, g, 2, 2), [[0.75, 0.75], [1.5, 1.5]])
    with pytest.raises(DataError, match="class 1 of group 1"):
        cell_weights(np.array([0, 0, 1]), np.array([0, 1, 0]), 2, 2)


def test_reweighting_equalises_the_cells_of_the_biased_training_split() -> None:
    task = load_dataset("synthetic", n_train=2000, n_val=10, n_test=10, correlation=0.8).task("smile", "group")
    idx = task.indices("train")
    y, g = task.y[idx], task.group[idx]
    counts = np.array([[np.sum((y == k) & (g == j)) for j in range(2)] for k in range(2)])
    assert counts.max() > 3 * counts.min()  # the planted bias: some cells are rare
    w = cell_weights(y, g, 2, 2)
    totals = np.array([[w[k, j] * counts[k, j] for j in range(2)] for k in range(2)])
    assert np.allclose(totals, len(y) / 4)


def _ctx(model: torch.nn.Module) -> _Context:
    cfg = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.0, clip=None)
    return _Context(model, build_optimizer(cfg, [{"params": list(model.parameters())}]), cfg,
                    torch.device("cpu"), torch.Generator().manual_seed(0))


def test_reweighted_step_is_the_weighted_mean_of_per_sample_losses() -> None:
    torch.manual_seed(0)
    method = get_method("reweight")
    method.weights = torch.tensor([[0.5, 2.0], [1.0, 4.0]])
    model = build_model("tiny")
    x, y, g = torch.rand(6, 3, 32, 32), torch.tensor([0, 1, 0, 1, 0, 1]), torch.tensor([0, 0, 1, 1, 1, 0])
    model.eval()  # BatchNorm in eval: the reference and the step see the same function
    with torch.no_grad():
        per = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
    w = method.weights[y, g]
    stats = method.train_step(model, Batch(x, y, g, torch.arange(6)), _ctx(model))
    assert stats["weighted_loss"] == pytest.approx(float((w * per).sum() / w.sum()), rel=1e-5)


def test_domain_independent_trains_only_the_images_own_group_head() -> None:
    torch.manual_seed(0)
    method = get_method("domain_independent")
    model = build_model("tiny", n_groups=3, n_classes=2 * 3)
    before = model.head.weight.detach().clone()
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 2, (8,))
    method.train_step(model, Batch(x, y, torch.full((8,), 1), torch.arange(8)), _ctx(model))
    changed = (model.head.weight.detach() != before).any(1).view(3, 2)  # rows: (group, class)
    assert changed.tolist() == [[False, False], [True, True], [False, False]]


def test_domain_independent_inference_rules() -> None:
    torch.manual_seed(0)
    model = build_model("tiny", n_groups=2, n_classes=4).eval()
    x, g = torch.rand(5, 3, 32, 32), torch.tensor([0, 1, 1, 0, 1])
    with torch.no_grad():
        per = per_group_logits(model, x)  # (5, 2, 2)
        s = get_method("domain_independent").predict_logits(model, x)
        assert torch.allclose(s.softmax(1), per.softmax(2).sum(1) / 2, atol=1e-6)
        c = get_method("domain_independent", {"inference": "conditional"}).predict_logits(model, x, g)
        assert torch.allclose(c, per[torch.arange(5), g])
        m = get_method("domain_independent", {"inference": "max"}).predict_logits(model, x)
        assert torch.equal(m.argmax(1), per.softmax(2).amax(1).argmax(1))


@pytest.mark.parametrize("method", ["reweight", "domain_independent"])
def test_end_to_end_with_exact_resume(tmp_path, method: str) -> None:
    from facefair import evaluate, train

    cfg = lambda: TrainConfig(dataset="synthetic", dataset_options={"n_train": 256, "n_val": 64, "n_test": 64},
                              arch="tiny", size=32, epochs=2, batch_size=32, method=method, progress=False)
    train(cfg(), tmp_path / "full")
    train(cfg(), tmp_path / "cut", stop_after_steps=5)
    train(cfg(), tmp_path / "cut", resume=True)
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    report = evaluate(tmp_path / "full", n_boot=0, progress=False)
    assert 0.0 <= report.overall["accuracy"] <= 1.0
