"""facefair's own face generator: seeded training that resumes exactly, a folder it refuses to
write over, the TorchScript interface for a user's generator, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import SYNTH

from facefair.checkpoint import load_checkpoint
from facefair.cli import main
from facefair.errors import ConfigError, DataError
from facefair.generative import GeneratorConfig, load_generator, train_generator


def tiny(**kw: object) -> GeneratorConfig:
    base = {"dataset": "synthetic", "dataset_options": dict(SYNTH, size=32), "size": 32, "latent_dim": 8, "width": 8,
                "epochs": 2, "batch_size": 16, "max_train": 64, "quality_n": 0, "progress": False}
    return GeneratorConfig(**{**base, **kw})  # type: ignore[arg-type]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    ck = load_checkpoint(folder / "checkpoints" / "last.pt")
    return {f"{k}.{n}": t for k in "gde" for n, t in ck[k].items()}


def test_training_stopped_mid_epoch_and_resumed_ends_with_the_same_weights(tmp_path: Path) -> None:
    train_generator(tiny(), tmp_path / "straight")
    assert train_generator(tiny(), tmp_path / "resumed", stop_after_steps=3) == {"epoch": 0, "step": 3}
    train_generator(tiny(), tmp_path / "resumed")  # 4 steps an epoch: resumes at step 3 of epoch 1
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(line) for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(r["train_seconds"] > 0 for r in rows)  # each epoch's training time is logged
    assert sorted(p.name for p in (tmp_path / "resumed" / "samples").iterdir()) == ["epoch-001.png", "epoch-002.png"]
    # a different seed trains other weights
    train_generator(tiny(seed=1, epochs=1), tmp_path / "other")
    assert not torch.equal(weights(tmp_path / "other")["g.up.0.weight"], a["g.up.0.weight"])


def test_the_trained_generator_decodes_and_encodes_at_any_size(tmp_path: Path) -> None:
    train_generator(tiny(epochs=1), tmp_path / "g")
    gen = load_generator(tmp_path / "g")
    z = gen.sample_latent(5, torch.Generator().manual_seed(0))
    x = gen.decode(z, 48)
    assert x.shape == (5, 3, 48, 48) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert gen.encode(x).shape == (5, 8)
    assert "sha256" in gen.source


def test_a_folder_of_other_files_or_settings_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="not a facefair generator"):
        train_generator(tiny(epochs=1), tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    train_generator(tiny(epochs=1), tmp_path / "g")
    with pytest.raises(ConfigError, match="other settings \\(latent_dim\\)"):
        train_generator(tiny(epochs=1, latent_dim=4), tmp_path / "g")


class Scripted(torch.nn.Module):
    """A user's generator: an int latent_dim, decode(z) and encode(x)."""

    def __init__(self) -> None:
        super().__init__()
        self.latent_dim = 3
        self.lin = torch.nn.Linear(3, 3 * 16 * 16)

    @torch.jit.export
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.lin(z)).view(-1, 3, 16, 16)

    @torch.jit.export
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z)


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")  # deprecated, but users' files still load
def test_a_torchscript_generator_follows_the_stated_interface(tmp_path: Path) -> None:
    torch.jit.save(torch.jit.script(Scripted()), str(tmp_path / "user.pt"))
    gen = load_generator(tmp_path / "user.pt")
    assert gen.latent_dim == 3 and gen.has_encoder
    x = gen.decode(torch.zeros(2, 3), 32)
    assert x.shape == (2, 3, 32, 32) and torch.allclose(x, torch.full_like(x, float(x[0, 0, 0, 0])), atol=0.5)
    assert gen.encode(x).shape == (2, 3)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(DataError, match="junk.pt: not a TorchScript generator"):
        load_generator(tmp_path / "junk.pt")
    with pytest.raises(DataError, match="generator not found"):
        load_generator(tmp_path / "absent")


def test_cli_trains_and_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    opts = [f"--data-opt={k}={v}" for k, v in SYNTH.items()] + ["--data-opt=size=32"]
    assert main(["generator", "train", *opts, "--size", "32", "--latent-dim", "8", "--width", "8", "--epochs", "1",
                 "--batch-size", "16", "--max-train", "32", "--quality-n", "0", "--no-progress",
                 "--out", str(tmp_path / "g")]) == 0
    assert main(["generator", "sample", str(tmp_path / "g"), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    assert main(["generator", "sample", str(tmp_path / "g"), "--out", str(tmp_path / "s.png")]) == 2
    assert "exists" in capsys.readouterr().err
