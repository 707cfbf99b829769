"""Train facefair's own face generator on a dataset's training split (no face generator can be
downloaded here): a DCGAN (non-saturating loss, Adam 2e-4, betas 0.5/0.999) and, in the same
loop, an encoder that inverts it, for the methods that encode real images.

Each step: D on real vs G(z); G against D; E on two terms with only E's weights moving:
``latent_weight * |E(G(z)) - z|^2`` (on the detached fakes, where the true code is known) and
``rec_weight * |G(E(x)) - x|_1`` on the real batch (through G, whose weights stay put). The
z draws and the data order are seeded, and ``last.pt`` holds every RNG, so a run stopped at any
step and resumed ends with the same weights as one that ran straight through.

The folder: ``generator.json`` (the config), ``checkpoints/generator.pt`` (G and E, updated
each epoch: what :func:`facefair.generative.load_generator` reads), ``checkpoints/last.pt``,
``log.jsonl`` (losses and FD-Lite0 per epoch), ``samples/epoch-NNN.png`` (a fixed 8x8 grid of
samples over 16 real validation faces and their reconstructions G(E(x))).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.utils import save_image

from ..atomic import atomic_open, write_json, write_text
from ..checkpoint import load_checkpoint, save_atomic
from ..data.base import Task
from ..data.from_config import load_data
from ..data.loader import SplitImages, iterate, n_batches, to_input
from ..errors import ConfigError
from ..progress import bar as progress_bar
from ..runfolder import RunFolder
from ..threads import ThreadGovernor
from .config import GeneratorConfig
from .model import CONFIG, build_nets, read_config, weights_file
from .nets import Discriminator
from .quality import FeatureNet, frechet_distance, gaussian

log = logging.getLogger(__name__)


def load_images(cfg: GeneratorConfig) -> Task:
    """The dataset as a task without labels (a generator learns faces, not attributes), with the
    prepared pixel cache attached where ``facefair prepare`` made one."""
    data = load_data(cfg)
    zeros = np.zeros(len(data), np.int64)
    return Task(data, "-", "-", zeros, ["-", "-"], zeros, ["-"])


def image_split(task: Task, cfg: GeneratorConfig, split: str, limit: int | None = None) -> SplitImages:
    return SplitImages(task, task.indices(split, limit, cfg.split_seed), cfg.size)


class _Nets:
    def __init__(self, cfg: GeneratorConfig):
        torch.manual_seed(cfg.seed)
        self.g, self.e = build_nets(dataclasses.asdict(cfg))
        self.d = Discriminator(cfg.size, cfg.width)
        betas = (cfg.beta1, 0.999)
        self.opt = {k: torch.optim.Adam(getattr(self, k).parameters(), lr=cfg.lr, betas=betas) for k in "gde"}
        self.zgen = torch.Generator().manual_seed(cfg.seed + 7)

    def state(self) -> dict[str, Any]:
        return {**{k: getattr(self, k).state_dict() for k in "gde"},
                **{f"opt_{k}": o.state_dict() for k, o in self.opt.items()}, "zgen": self.zgen.get_state()}

    def load(self, ck: dict[str, Any]) -> None:
        for k in "gde":
            getattr(self, k).load_state_dict(ck[k])
            self.opt[k].load_state_dict(ck[f"opt_{k}"])
        self.zgen.set_state(ck["zgen"])


def train_step(n: _Nets, x: torch.Tensor, cfg: GeneratorConfig) -> dict[str, float]:
    """One step of D, G and E on a real batch ``x`` in [0, 1]; returns the losses."""
    z = torch.randn(len(x), cfg.latent_dim, generator=n.zgen)
    fake = n.g(z)
    d_loss = F.softplus(-n.d(x)).mean() + F.softplus(n.d(fake.detach())).mean()
    n.opt["d"].zero_grad(set_to_none=True)
    d_loss.backward()
    n.opt["d"].step()
    g_loss = F.softplus(-n.d(fake)).mean()
    n.opt["g"].zero_grad(set_to_none=True)
    g_loss.backward()
    n.opt["g"].step()
    latent = F.mse_loss(n.e(fake.detach()), z)
    rec = (n.g(n.e(x)) - x).abs().mean() if cfg.rec_weight > 0 else torch.zeros(())
    e_loss = cfg.latent_weight * latent + cfg.rec_weight * rec
    n.opt["e"].zero_grad(set_to_none=True)
    e_loss.backward()  # G's gradients from this pass are cleared before G's next step
    n.opt["e"].step()
    return {k: float(v.detach()) for k, v in (("d_loss", d_loss), ("g_loss", g_loss), ("latent_mse", latent),
                                               ("rec_l1", rec))}


def _prepare_folder(out: Path, cfg: GeneratorConfig, use_existing: bool) -> bool:
    """True when the folder holds this config's run to resume; refuses foreign contents."""
    if (out / CONFIG).is_file():
        saved = GeneratorConfig(**{k: v for k, v in read_config(out).items()
                                   if k in {f.name for f in dataclasses.fields(GeneratorConfig)}})
        if saved.identity() != cfg.identity():
            diff = [k for k, v in cfg.identity().items() if saved.identity().get(k) != v]
            raise ConfigError(f"{out} holds a generator trained with other settings ({', '.join(diff)}); "
                              "choose another --out")
        return True
    if out.is_dir() and any(out.iterdir()) and not use_existing:
        raise ConfigError(f"{out} holds files that are not a facefair generator; choose another --out, "
                          "or pass --use-existing-folder")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / CONFIG, dataclasses.asdict(cfg))
    return False


def generator_done(out: str | Path, cfg: GeneratorConfig) -> bool:
    """Does ``out`` hold this config's generator, trained for all its epochs?"""
    out = Path(out)
    last = RunFolder(out).checkpoint("last")
    if not (out / CONFIG).is_file() or not last.is_file() or not weights_file(out).is_file():
        return False
    _prepare_folder(out, cfg, use_existing=False)  # a folder of other settings is an error, not "not done"
    return int(load_checkpoint(last, ("epoch",))["epoch"]) >= cfg.epochs


def train_generator(cfg: GeneratorConfig, out: str | Path, use_existing: bool = False,
                    stop_after_steps: int | None = None) -> dict[str, Any]:
    """Train (or resume) a generator into ``out``; returns the last epoch's log row.

    Parameters
    ----------
    cfg
        what to train (dataset, size, latent, epochs, ...); saved as ``generator.json``.
    out
        the generator folder; one holding this config's run is resumed where it stopped.
    use_existing
        write into a folder that holds other files (refused otherwise).
    stop_after_steps
        stop after that many steps with a checkpoint (tests of resume).
    """
    cfg.validate()
    out = Path(out)
    threads = ThreadGovernor(cfg.threads or None)  # 0: one per usable core, fewer when others are busy
    task = load_images(cfg)
    train_ds = image_split(task, cfg, "train", cfg.max_train)
    val_ds = image_split(task, cfg, "val")
    resume = _prepare_folder(out, cfg, use_existing)
    nets = _Nets(cfg)
    last = RunFolder(out).checkpoint("last")
    epoch, step, history, sums = 0, 0, [], {}
    if resume and last.is_file():
        ck = load_checkpoint(last, ("g", "d", "e", "epoch", "step", "history", "sums"))
        nets.load(ck)
        epoch, step, history, sums = int(ck["epoch"]), int(ck["step"]), list(ck["history"]), dict(ck["sums"])
        log.info(f"resuming {out} at epoch {epoch + 1}, step {step}")
    per_epoch = n_batches(len(train_ds), cfg.batch_size, drop_last=True)
    log.info(f"training a {cfg.size}px DCGAN generator and encoder (latent {cfg.latent_dim}, width {cfg.width}) "
             f"on {cfg.dataset}: {len(train_ds)} train images, {cfg.epochs} epochs, {threads.describe()}")
    fixed_z = torch.randn(64, cfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed + 11))
    fixed_x = to_input(next(iterate(val_ds, 16))["x"])
    budget = stop_after_steps
    quality: Quality | None = None  # made at the first epoch's end (a run stopped before needs none)
    while epoch < cfg.epochs:
        t0, first = time.perf_counter(), step
        for k in "gde":
            getattr(nets, k).train()
        batches = iterate(train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch, drop_last=True, skip=step)
        for b in progress_bar(batches, cfg.progress, total=per_epoch, initial=step, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                              unit="batch", leave=False):
            for k, v in train_step(nets, to_input(b["x"]), cfg).items():
                sums[k] = sums.get(k, 0.0) + v
            if change := threads.poll():
                log.info(change)
            step += 1
            if budget is not None:
                budget -= 1
            stop = budget is not None and budget <= 0
            if stop or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < per_epoch):
                save_atomic({**nets.state(), "epoch": epoch, "step": step, "history": history, "sums": sums}, last)
            if stop:
                return {"epoch": epoch, "step": step}
        seconds = time.perf_counter() - t0
        row = {"epoch": epoch + 1, **{k: v / per_epoch for k, v in sums.items()},
               "img_per_s": round((step - first) * cfg.batch_size / max(seconds, 1e-9), 1),
               "train_seconds": round(seconds, 3)}  # this sitting's steps of the epoch (a resume: the rest)
        if quality is None and cfg.quality_n:
            quality = Quality(cfg, task, val_ds)
        row.update(_end_epoch(nets, out, epoch, fixed_z, fixed_x, quality))
        history.append(row)
        epoch, step, sums = epoch + 1, 0, {}
        save_atomic({"generator": nets.g.state_dict(), "encoder": nets.e.state_dict()}, weights_file(out))
        save_atomic({**nets.state(), "epoch": epoch, "step": 0, "history": history, "sums": sums}, last)
        write_text(RunFolder(out).log_file, "".join(json.dumps(r) + "\n" for r in history))
        log.info(f"epoch {epoch}/{cfg.epochs}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"))
    return history[-1] if history else {}


@torch.no_grad()
def _end_epoch(nets: _Nets, out: Path, epoch: int, fixed_z: torch.Tensor, fixed_x: torch.Tensor,
               quality: Quality | None) -> dict[str, Any]:
    """The epoch's sample grid (eval mode, as the methods decode) and its quality figures."""
    nets.g.eval()
    nets.e.eval()
    samples = nets.g(fixed_z)
    recon = nets.g(nets.e(fixed_x))
    grid = torch.cat([samples, fixed_x, recon])
    path = out / "samples" / f"epoch-{epoch + 1:03d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        save_image(grid, fh, nrow=8, padding=1, format="png")
    row: dict[str, Any] = {"val_rec_l1": float((recon - fixed_x).abs().mean())}
    if quality is not None:
        row.update(quality(nets.g))
    return row


class Quality:
    """FD-Lite0 of ``quality_n`` samples against as many validation faces (the first ones), and
    the floor: the same distance between those faces and as many training faces. The real faces'
    features and the floor do not change, so they are computed once per training call."""

    def __init__(self, cfg: GeneratorConfig, task: Task, val_ds: SplitImages):
        self.net = FeatureNet()
        self.n = min(cfg.quality_n, len(val_ds))
        self.seed, self.latent_dim = cfg.seed + 13, cfg.latent_dim
        real = SplitImages(task, val_ds.indices[: self.n], cfg.size)
        self.real = gaussian(self.net(self._pixels(real)))
        other = gaussian(self.net(self._pixels(image_split(task, cfg, "train", self.n))))
        self.floor = frechet_distance(*self.real, *other)

    @staticmethod
    def _pixels(ds: SplitImages) -> torch.Tensor:
        return torch.cat([to_input(b["x"]) for b in iterate(ds, 256)])

    @torch.no_grad()
    def __call__(self, g: torch.nn.Module) -> dict[str, float]:
        gen = torch.Generator().manual_seed(self.seed)
        fake = torch.cat([g(torch.randn(len(part), self.latent_dim, generator=gen))
                          for part in torch.arange(self.n).split(256)])
        return {"fd_lite0": frechet_distance(*self.real, *gaussian(self.net(fake))), "fd_lite0_floor": self.floor,
                "quality_n": self.n}
