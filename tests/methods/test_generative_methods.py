"""The generative comparison methods on planted generators whose answers are known: latent-space
debiasing pairs flip the protected label and keep the target; g-SMOTE faces lie on segments
between same-cell neighbours and balance the cells; adaptive sampling follows the cells'
losses; generative views are stored by training position; the evidential loss's known values;
and each method trains end to end from a TorchScript generator through the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import SYNTH
from torch import nn

from facefair.cli import main
from facefair.config import TrainConfig
from facefair.data import load_dataset
from facefair.data.loader import SplitImages
from facefair.errors import ConfigError
from facefair.generative import FaceGenerator
from facefair.methods import RunSetup, get_method
from facefair.methods.gan_debias import GanDebias
from facefair.methods.generative_views import evidential_loss, kl_to_uniform
from facefair.methods.synthetic import Pool

SIZE = 16


class Pixels(nn.Module):
    """A generator whose code is the image itself: decode reshapes, encode flattens (exact inverse)."""

    latent_dim = 3 * SIZE * SIZE

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z.view(-1, 3, SIZE, SIZE).clamp(0, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def pixel_generator() -> FaceGenerator:
    return FaceGenerator(Pixels(), Pixels(), Pixels.latent_dim, "planted pixels")


def run_setup(tmp_path: Path, **cfg: Any) -> RunSetup:
    task = load_dataset("synthetic", size=SIZE, **SYNTH).task("smile", "group")
    return RunSetup(TrainConfig(size=SIZE, batch_size=16, **cfg), task, torch.device("cpu"), tmp_path,
                    SplitImages(task, task.indices("train"), SIZE), None, SplitImages(task, task.indices("val"), SIZE))


class Halves(nn.Module):
    """A planted latent: the left half's brightness is sigmoid(u.z), the right half's sigmoid(v.z)."""

    latent_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.u = torch.tensor([1.0, 0.0, 0.0, 0.0])
        self.v = torch.tensor([0.5, 0.75 ** 0.5, 0.0, 0.0])  # 60 degrees from u: the edit must correct for it

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        left, right = torch.sigmoid(4 * z @ self.u), torch.sigmoid(4 * z @ self.v)
        x = torch.zeros(len(z), 3, SIZE, SIZE)
        x[..., : SIZE // 2] = left.view(-1, 1, 1, 1)
        x[..., SIZE // 2:] = right.view(-1, 1, 1, 1)
        return x


class HalfLabeler(nn.Module):
    """Labels an image by one half's brightness (> 0.5: class 1), as two logits."""

    def __init__(self, side: int) -> None:
        super().__init__()
        self.side = side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x[..., : SIZE // 2] if self.side == 0 else x[..., SIZE // 2:]
        s = half.mean((1, 2, 3)) - 0.5
        return torch.stack([-s, s], 1) * 100


class PlantedDebias(GanDebias):
    """GanDebias with the planted generator and labellers in place of trained ones."""

    def generator(self, run: RunSetup) -> FaceGenerator:
        return FaceGenerator(Halves(), None, 4, "planted halves")

    def labeler(self, model: nn.Module, run: RunSetup) -> nn.Module:
        return HalfLabeler(0)

    def protected_labeler(self, target: nn.Module, run: RunSetup) -> nn.Module:
        return HalfLabeler(1)


def test_latent_debiasing_pairs_flip_the_group_and_keep_the_target(tmp_path: Path) -> None:
    method = PlantedDebias(PlantedDebias.Options(samples=600))
    run = run_setup(tmp_path)
    pool = method.make_pool(nn.Identity(), run, method.generator(run))
    assert len(pool) == 1200
    assert torch.equal(pool.y[:600], pool.y[600:]) and torch.equal(pool.group[600:], 1 - pool.group[:600])
    info = method.info
    assert info["target_plane_accuracy"] > 0.97 and info["protected_plane_accuracy"] > 0.97
    assert info["hyperplane_cosine"] == pytest.approx(0.5, abs=0.05)
    assert info["pair_protected_flipped"] > 0.95 and info["pair_target_kept"] > 0.95
    # the labellers read the stored images as the pool's labels say
    x = pool.x.permute(0, 3, 1, 2).float() / 255
    assert (HalfLabeler(1)(x[600:]).argmax(1) == pool.group[600:]).float().mean() > 0.95


class Everyone(nn.Module):
    """A labeller that calls every face class 1: one undertrained on too few faces does this."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([0.0, 5.0]).expand(len(x), 2)


class OneClassDebias(PlantedDebias):
    def labeler(self, model: nn.Module, run: RunSetup) -> nn.Module:
        return Everyone()


def test_a_labeller_that_sees_one_class_says_what_that_means_and_what_to_do(tmp_path: Path) -> None:
    method = OneClassDebias(OneClassDebias.Options(samples=40))
    run = run_setup(tmp_path)
    with pytest.raises(ConfigError) as e:
        method.make_pool(nn.Identity(), run, method.generator(run))
    said = str(e.value)
    assert f"called all 40 generated faces '{run.task.y_classes[1]}'" in said
    assert "train the labeller longer, or name a better one with labeler_run" in said


def test_gsmote_balances_the_cells_with_faces_between_same_cell_neighbours(tmp_path: Path) -> None:
    method = get_method("gsmote", {"k": 3})
    run = run_setup(tmp_path)
    pool = method.make_pool(nn.Identity(), run, pixel_generator())
    task, idx = run.task, run.train_ds.indices
    real = {(g, y): int(((task.group[idx] == g) & (task.y[idx] == y)).sum()) for g in (0, 1) for y in (0, 1)}
    made = {c: int(((pool.group == c[0]) & (pool.y == c[1])).sum()) for c in real}
    assert len({real[c] + made[c] for c in real}) == 1  # every cell as large as the largest
    assert made[max(real, key=real.get)] == 0
    pixels = torch.from_numpy(task.data.images[idx]).float().flatten(1) / 255
    for k in range(0, len(pool), max(len(pool) // 12, 1)):  # each checked face: on a segment to a neighbour
        cell = torch.from_numpy((task.group[idx] == int(pool.group[k])) & (task.y[idx] == int(pool.y[k])))
        members = pixels[cell]
        new = pool.x[k].float().flatten() / 255
        d = torch.cdist(members, members) + torch.eye(len(members)) * 1e9
        nbrs = d.topk(3, largest=False).indices
        a, b = members.unsqueeze(1).expand(-1, 3, -1), members[nbrs]
        t = (((new - a) * (b - a)).sum(-1) / (b - a).pow(2).sum(-1)).clamp(0, 1)
        gap = (a + t.unsqueeze(-1) * (b - a) - new).norm(dim=-1).min()
        assert float(gap) < 0.06  # uint8 rounding of 768 pixels: at most sqrt(768) / 510


class Ctx:
    def __init__(self) -> None:
        self.generator = torch.Generator().manual_seed(0)
        self.epoch = 0


def test_adaptive_sampling_draws_the_cells_by_their_validation_loss(tmp_path: Path) -> None:
    method = get_method("gsmote", {"adaptive": True, "per_batch": 40})
    run = run_setup(tmp_path)
    method.use_pool(method.make_pool(nn.Identity(), run, pixel_generator()), run)
    key = max(method.cells, key=lambda c: len(method.cells[c][1]))  # the cell with the most real faces
    largest = tuple(map(int, key.split(",")))
    method.cell_weights = {"0,0": 0.0, "0,1": 0.0, "1,0": 0.0, "1,1": 0.0, key: 1.0}
    _, y, g = method.draw(Ctx(), torch.device("cpu"))  # the largest cell lends its real faces
    assert len(y) == 40 and bool(((g == largest[0]) & (y == largest[1])).all())
    method.cell_weights = {"0,0": 1.0, "0,1": 1.0, "1,0": 1.0, "1,1": 3.0}
    _, y, g = method.draw(Ctx(), torch.device("cpu"))
    share = float(((g == 1) & (y == 1)).float().mean())
    assert 0.3 < share < 0.85  # expected 0.5 of 40 draws
    losses = method.validation_losses(nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 2)))
    assert sorted(losses) == ["0,0", "0,1", "1,0", "1,1"] and all(v > 0 for v in losses.values())


def test_generative_views_are_stored_by_training_position(tmp_path: Path) -> None:
    method = get_method("generative_views", {"views": 2, "sigma": 0.0})
    run = run_setup(tmp_path)
    pool = method.make_pool(nn.Identity(), run, pixel_generator())
    images = torch.from_numpy(run.task.data.images[run.train_ds.indices])
    assert torch.equal(pool.x[0::2], images) and torch.equal(pool.x[1::2], images)  # sigma 0: the face itself
    with pytest.raises(ConfigError, match="views"):  # a pool that is not this run's
        method.use_pool(Pool(pool.x[:4], pool.y[:4], pool.group[:4]), run)


def test_evidential_loss_known_values() -> None:
    assert torch.allclose(kl_to_uniform(torch.ones(3, 2)), torch.zeros(3), atol=1e-6)
    logits = torch.tensor([[0.0, 2.0]])
    alpha = torch.nn.functional.softplus(logits) + 1
    fit = torch.digamma(alpha.sum()) - torch.digamma(alpha[0, 1])
    assert float(evidential_loss(logits, torch.tensor([1]), 0.0)) == pytest.approx(float(fit), rel=1e-5)
    # more evidence for the true class lowers the loss; evidence for the wrong one is penalised by the KL term
    assert evidential_loss(torch.tensor([[0.0, 5.0]]), torch.tensor([1]), 1.0) < evidential_loss(logits, torch.tensor([1]), 1.0)
    assert evidential_loss(torch.tensor([[5.0, 0.0]]), torch.tensor([1]), 1.0) > evidential_loss(
        torch.tensor([[5.0, 0.0]]), torch.tensor([1]), 0.0)


class ScriptedPixels(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.latent_dim = 3 * SIZE * SIZE

    @torch.jit.export
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z.view(-1, 3, 16, 16) * 0.25 + 0.5).clamp(0, 1)

    @torch.jit.export
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - 0.5) * 4

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z)


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_each_generative_method_trains_from_a_torchscript_generator(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    torch.jit.save(torch.jit.script(ScriptedPixels()), str(tmp_path / "gen.pt"))
    data = [f"--data-opt={k}={v}" for k, v in SYNTH.items()] + [f"--data-opt=size={SIZE}"]
    common = [*data, "--size", str(SIZE), "--epochs", "1", "--batch-size", "16", "--no-progress"]
    gen = f"generator={tmp_path / 'gen.pt'}"
    for name, opts in (("gsmote", [gen]), ("generative_views", [gen]), ("consistency", [])):
        out = tmp_path / name
        assert main(["train", *common, "--method", name, *[f"--method-opt={o}" for o in opts], "--out", str(out)]) == 0
        assert (out / "synthetic.pt").is_file() == (name != "consistency")
        assert main(["evaluate", str(out), "--bootstrap", "0"]) == 0
    assert main(["train", *common, "--method", "gan_debias", f"--method-opt={gen}", "--out", str(tmp_path / "gd")]) == 2
    assert "pass --labeler-run RUN" in capsys.readouterr().err
    assert main(["train", *common, "--method", "gsmote", "--out", str(tmp_path / "none")]) == 2
    assert "needs a face generator" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_adaptive_gsmote_stopped_and_resumed_matches_a_straight_run(tmp_path: Path) -> None:
    from facefair import train

    torch.jit.save(torch.jit.script(ScriptedPixels()), str(tmp_path / "gen.pt"))
    cfg = TrainConfig(dataset_options=dict(SYNTH, size=SIZE), size=SIZE, epochs=2, batch_size=16, progress=False,
                      method="gsmote", method_options={"generator": str(tmp_path / "gen.pt"), "adaptive": True})
    train(cfg, tmp_path / "straight")
    train(cfg, tmp_path / "resumed", stop_after_steps=13)  # 10 steps an epoch: stops inside epoch 2
    pool_time = (tmp_path / "resumed" / "synthetic.pt").stat().st_mtime_ns
    train(cfg, tmp_path / "resumed", resume=True)
    assert (tmp_path / "resumed" / "synthetic.pt").stat().st_mtime_ns == pool_time  # reloaded, not remade
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["method"]["cell_weights"] == b["method"]["cell_weights"]
