"""The one trainer every method runs on.

It owns the data order (a pure function of seed and epoch), the optimizer and its cosine
schedule (a pure function of the step, so nothing but the optimizer's moments needs saving),
grad-norm clipping, bf16/fp16 autocast, channels_last, validation after every epoch with the
best epoch chosen on the validation split, atomic checkpoints and an exact ``resume``. Under
``torchrun`` it trains data-parallel (see :mod:`facefair.distributed`): each rank its share
of every batch, gradients averaged, validation gathered from all ranks, only rank 0 writing.

Run folder: ``config.json``, ``log.jsonl`` (one line per epoch), ``checkpoints/last.pt``
(full state), ``checkpoints/best.pt`` (model state_dict of the selected epoch), ``best.json``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import distributed
from .atomic import json_safe
from .checkpoint import CKPT_KEYS, load_checkpoint, save_atomic
from .config import TrainConfig, resolve_data_paths
from .data import Task
from .data.from_config import load_task
from .data.loader import SplitImages, ahead, iterate, loader_workers, n_batches, random_flip, to_input
from .devices import autocast, cpu_has_native_bf16, describe_machine, resolve_device, resolve_precision
from .errors import ConfigError, DataError
from .inference import load_run, predict
from .methods import Batch, Method, RunSetup, get_method
from .metrics import fairness_report
from .models import load_backbone_weights
from .models.pretrained import load_pretrained, sha256
from .progress import bar as progress_bar
from .runfolder import RunFolder, validation_fields
from .threads import ThreadGovernor

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed torch and numpy's legacy global state (facefair itself passes explicit RNGs)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def start_weights(model: nn.Module, cfg: TrainConfig) -> None:
    """Load the backbone's starting weights (``--pretrained`` or ``--weights``) and record in
    ``cfg.weights_used`` which file they came from (name, path, sha256)."""
    if cfg.pretrained:
        record = load_pretrained(model.backbone, cfg.pretrained)
        log.info(f"backbone starts from {record['name']} (sha256 {record['sha256'][:12]}..., {record['file']})")
        if not record["sha256_matches_name"]:
            log.info(f"warning: {record['file']}: its sha256 does not start with the digits in its name; "
                "the file is not the one published under that name")
        cfg.weights_used = record
    elif cfg.weights:
        ignored = load_backbone_weights(model.backbone, cfg.weights)
        log.info(f"loaded backbone weights from {cfg.weights} ({len(ignored)} non-backbone keys ignored)")
        cfg.weights_used = {"name": "file", "file": str(Path(cfg.weights).resolve()),
                            "sha256": sha256(Path(cfg.weights)), "ignored_keys": len(ignored)}


def backbone_rate(groups: list[dict[str, Any]], model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Give the backbone's parameters ``cfg.backbone_lr_mult`` times their group's learning rate
    (0: leave them out of the optimizer), so a pretrained backbone is fine-tuned more gently
    than the fresh heads. A method that sets its backbone's rate itself (FineFACE) refuses it."""
    mult = cfg.backbone_lr_mult
    if mult == 1.0:
        return groups
    if any(g.get("name") == "backbone" for g in groups):
        raise ConfigError(f"--backbone-lr-mult: method {cfg.method} sets its backbone's learning rate itself "
                          "(its option backbone_lr)")
    own = {id(p) for p in model.backbone.parameters()}
    out: list[dict[str, Any]] = []
    for g in groups:
        rest = [p for p in g["params"] if id(p) not in own]
        backbone = [p for p in g["params"] if id(p) in own]
        if rest:
            out.append({**g, "params": rest})
        if backbone and mult > 0:
            out.append({**g, "params": backbone, "lr": g.get("lr", cfg.lr) * mult, "name": "backbone"})
        for p in backbone if mult == 0 else ():
            p.requires_grad_(False)
    return out


def cosine_lr(base: float, step: int, total: int, schedule: str) -> float:
    """Per-step cosine decay from ``base`` to 0 (or constant)."""
    if schedule == "constant" or total <= 0:
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def build_optimizer(cfg: TrainConfig, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    for g in groups:
        g.setdefault("lr", cfg.lr)
        g["base_lr"] = g["lr"]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    # the fused kernel: ResNet-18's Adam step took 5.5 ms against the per-tensor loops' 33 on a
    # 2-core EPYC (a sixth of a bf16 training step); it agrees with them to ~1e-6 after 20 steps
    params = [q for g in groups for q in g["params"]]
    fused = bool(params) and all(q.is_floating_point() and q.device.type in ("cpu", "cuda") for q in params)
    return cls(groups, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.weight_decay,
               fused=fused or None)


class _Context:
    """The :class:`~facefair.methods.base.StepContext` handed to a method's iteration."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                 device: torch.device, generator: torch.Generator):
        self.model, self.optimizer, self.cfg, self.device = model, optimizer, cfg, device
        self.generator = generator
        self.epoch = 0
        self.steps = 0
        self.params = [p for g in optimizer.param_groups for p in g["params"]]
        # fp16's narrow range needs loss scaling; skipped steps (inf grads) are the scaler's job
        self.scaler = torch.amp.GradScaler(device.type) if resolve_precision(cfg, device)[0] == "fp16" else None

    def step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()
        # checked once the backward is queued: a GPU run waits on the loss here, not before it
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {float(loss.detach())}")
        distributed.average_gradients(self.params)
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradient, not the scaled one
        if self.cfg.clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.steps += 1

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return autocast(self.cfg, self.device)


@dataclass
class RunResult:
    """What :func:`train` returns: the run folder, the best epoch and its validation metrics."""

    out: Path
    best_epoch: int
    best_score: float
    history: list[dict[str, Any]]


def _rng_state(gens: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    return {"torch": torch.get_rng_state(), **{k: g.get_state() for k, g in gens.items()}}


def _restore_rng(state: dict[str, torch.Tensor], gens: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    for k, g in gens.items():
        g.set_state(state[k])


def resolve_run_config(cfg: TrainConfig, out: Path, resume: bool) -> TrainConfig:
    """The config of a new run, or on resume the one saved in ``out`` (it wins)."""
    folder = RunFolder(out)
    if folder.has_config():
        if not resume:
            raise ConfigError(f"{out} already holds a run; pass --resume to continue it or "
                              "choose another --out")
        saved = folder.config()
        saved.progress = cfg.progress
        return saved
    if resume and folder.foreign_files():
        # (a kill while config.json was being written leaves only its .tmp: start afresh)
        raise ConfigError(f"{out}: --resume given but the folder holds no config.json")
    return cfg


def train(cfg: TrainConfig, out: str | Path, resume: bool = False,
          stop_after_steps: int | None = None, use_existing: bool = False) -> RunResult:
    """Train ``cfg.method`` on ``cfg``'s task into the run folder ``out``.

    Parameters
    ----------
    cfg
        the run's configuration (saved as ``config.json``).
    out
        the run folder (created; an existing run is refused unless ``resume``).
    resume
        continue from ``checkpoints/last.pt`` exactly (same data order, RNG states and
        optimizer moments); the saved config wins.
    stop_after_steps
        end after that many iterations of this call (tests use it to simulate a kill).
    use_existing
        write the run into a folder that holds other files (refused otherwise).
    """
    out = Path(out)
    dist_ctx, device = distributed.setup(resolve_device(cfg.device))
    try:
        # rank 0 holds the folder; the other ranks write nothing into it
        with RunFolder(out).claim(use_existing) if dist_ctx.is_main else contextlib.nullcontext():
            result = _train(cfg, out, resume, stop_after_steps, dist_ctx, device)
    except BaseException:
        if dist_ctx.enabled:
            distributed.shutdown(sync=False)
        raise
    if dist_ctx.enabled:
        distributed.shutdown()
    return result


@dataclass
class LoopState:
    """Where the loop is and what it has seen: everything of a run that changes while it
    trains, besides the weights, the optimizer and the RNGs. It goes into ``last.pt`` whole,
    so a resume continues exactly."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"epoch": -1, "score": -math.inf})
    #: this epoch's training loss sum, images and seconds (rank 0 holds the pooled sums)
    accum: dict[str, Any] = field(default_factory=lambda: {"loss_sum": 0.0, "n": 0, "seconds": 0.0})

    def to_checkpoint(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
                "history": self.history, "best": self.best, "accum": self.accum}

    @classmethod
    def from_checkpoint(cls, ck: dict[str, Any]) -> LoopState:
        return cls(ck["epoch"], ck["step_in_epoch"], ck["global_step"], ck["history"], ck["best"], ck["accum"])

    def result(self, out: Path) -> RunResult:
        return RunResult(out, int(self.best["epoch"]), float(self.best["score"]), self.history)


@dataclass
class _Run:
    """What a run is built from once: config, data, method, model, optimizer, RNGs."""

    cfg: TrainConfig
    out: Path
    dist: distributed.Dist
    device: torch.device
    task: Task
    method: Method
    model: nn.Module
    optimizer: torch.optim.Optimizer
    train_ds: SplitImages
    val_ds: SplitImages
    gens: dict[str, torch.Generator]
    ctx: _Context
    setup: RunSetup
    threads: ThreadGovernor | None = None  # a CPU run's thread count, following the machine's load

    @property
    def machine(self) -> str:
        """The processor this run computes on (each epoch's log row records it: a run resumed
        on another machine says so)."""
        return describe_machine(self.device)

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.out)

    @property
    def per_epoch(self) -> int:
        return n_batches(len(self.train_ds), self.cfg.batch_size, drop_last=True)

    @property
    def shard(self) -> tuple[int, int]:
        return self.dist.rank, self.dist.world


def _build(cfg: TrainConfig, out: Path, resume: bool, dist_ctx: distributed.Dist, device: torch.device) -> _Run:
    """Task, method, model (with its starting weights), optimizer and RNGs of a run; the
    config is saved once all of them are valid."""
    cfg.validate()
    paths = resolve_data_paths({"root": cfg.root, "dataset_options": cfg.dataset_options})
    cfg.root, cfg.dataset_options = paths["root"], paths["dataset_options"]
    if dist_ctx.enabled and cfg.batch_size % dist_ctx.world:
        raise ConfigError(f"--batch-size {cfg.batch_size} must be a multiple of the number of "
                          f"processes ({dist_ctx.world}): each takes an equal share of every batch")
    threads = ThreadGovernor(cfg.threads) if device.type == "cpu" or cfg.threads else None
    seed_everything(cfg.seed)
    task = load_task(cfg)
    method = get_method(cfg.method, cfg.method_options)
    if method.uses_protected:
        log.info(f"note: method {method.name} reads the protected labels ({cfg.protected}) in training")
    model = method.build_model(cfg, task)
    folder = RunFolder(out)
    if not cfg.init and not (resume and folder.checkpoint("last").is_file()):  # a checkpoint or init replaces them
        start_weights(model, cfg)
    if cfg.init:
        _load_init(model, method, Path(cfg.init))
    if dist_ctx.enabled and cfg.sync_bn and method.sync_bn:
        model = distributed.convert_sync_batchnorm(model, device)
    elif dist_ctx.enabled and cfg.sync_bn:
        log.info(f"note: {method.name} keeps per-rank BatchNorm statistics (its forwards differ by rank)")
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    distributed.broadcast_state(model)
    if cfg.freeze_stages:
        model.backbone.freeze(cfg.freeze_stages)
    optimizer = build_optimizer(cfg, backbone_rate(method.param_groups(model, cfg), model, cfg))
    if dist_ctx.is_main and not folder.has_config():  # once the task, method and model are valid
        cfg.save(folder.config_file)  # (the folder: made by RunFolder.claim, removed if the start fails)
        folder.write_task(task)
    train_ds = SplitImages(task, task.indices("train", cfg.max_train, cfg.split_seed), cfg.size)
    val_ds = SplitImages(task, task.indices("val", cfg.max_val, cfg.split_seed), cfg.size)
    gens = {"flip": torch.Generator(), "method": torch.Generator()}
    gens["flip"].manual_seed(cfg.seed + 1)
    gens["method"].manual_seed(cfg.seed + 2)
    ctx = _Context(model, optimizer, cfg, device, gens["method"])
    return _Run(cfg, out, dist_ctx, device, task, method, model, optimizer, train_ds, val_ds, gens, ctx,
                RunSetup(cfg, task, device, out, train_ds, load_run, val_ds), threads)


def _load_init(model: nn.Module, method: Method, init: Path) -> None:
    """Start from a trained run's (or file's) weights; the parts that run lacks stay fresh."""
    path = RunFolder(init).checkpoint("best") if init.is_dir() else init
    state = load_checkpoint(path)
    fresh = method.fresh_on_init
    state = {**{k: v for k, v in state.items() if not k.startswith(fresh)},
             **{k: v for k, v in model.state_dict().items() if k.startswith(fresh)}}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise DataError(f"weights do not fit this model: {str(e).splitlines()[0]}", path) from None
    log.info(f"initialised the model from {path}" + (f" ({', '.join(fresh)}* start fresh)" if fresh else ""))


def _start(run: _Run, resume: bool) -> LoopState:
    """A fresh loop (the method sets itself up), or the one ``last.pt`` holds."""
    last = run.folder.checkpoint("last")
    if resume and run.dist.is_main:  # a kill during a save leaves its temporary file: nothing to keep
        for stale in last.parent.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
    if not (resume and last.is_file()):
        run.method.setup(run.model, run.setup)
        return LoopState()
    ck = load_checkpoint(last, CKPT_KEYS)
    try:
        run.model.load_state_dict(ck["model"])
        run.optimizer.load_state_dict(ck["optimizer"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise DataError(f"does not fit this run's model and optimizer (another run's checkpoint?): "
                        f"{(str(e).splitlines() or [type(e).__name__])[0][:200]}", last) from None
    state = LoopState.from_checkpoint(ck)
    if not run.dist.is_main:  # rank 0 saved the pooled loss; the others start their share from zero
        state.accum = {**state.accum, "loss_sum": 0.0, "n": 0}
    _restore_rng(ck["rng"], run.gens)
    run.method.load_state_dict(ck.get("method", {}), run.model, run.setup)
    log.info(f"resuming {run.out} at epoch {state.epoch + 1}, step {state.step_in_epoch} of {run.per_epoch}")
    return state


def _pool(run: _Run, state: LoopState) -> None:
    """The epoch's loss over all ranks, kept by rank 0 alone so that a resume sums it once."""
    if run.dist.enabled:
        total = distributed.all_reduce_sum([state.accum["loss_sum"], state.accum["n"]])
        state.accum["loss_sum"], state.accum["n"] = (total[0], int(total[1])) if run.dist.is_main else (0.0, 0)


def _checkpoint(run: _Run, state: LoopState) -> None:
    _pool(run, state)
    if run.dist.is_main:
        save_atomic({"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                     "rng": _rng_state(run.gens), "method": run.method.state_dict(), **state.to_checkpoint()},
                    run.folder.checkpoint("last"))


def _train(cfg: TrainConfig, out: Path, resume: bool, stop_after_steps: int | None,
           dist_ctx: distributed.Dist, device: torch.device) -> RunResult:
    cfg = resolve_run_config(cfg, out, resume)
    distributed.barrier()  # every rank has read the folder before rank 0 writes into it
    run = _build(cfg, out, resume, dist_ctx, device)
    state = _start(run, resume)
    sample_weights = run.method.sample_weights(run.setup)
    writer = _tensorboard(out) if dist_ctx.is_main else None
    _announce(run)
    budget = [stop_after_steps]  # iterations this call may still take (None: no limit)
    while state.epoch < cfg.epochs:
        if cfg.patience and state.step_in_epoch == 0 and _epochs_without_gain(state.history, cfg.select) >= cfg.patience:
            log.info(f"early stop after epoch {state.epoch}: validation {cfg.select} has not improved for "
                     f"{cfg.patience} epochs (selected: epoch {state.best['epoch']})")
            break
        if not _train_epoch(run, state, sample_weights, budget):
            return state.result(out)  # stopped inside the epoch (stop_after_steps), checkpointed
        row = _validate(run, state)
        if writer is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    writer.add_scalar(k, v, state.epoch)
    if writer is not None:
        writer.close()
    return state.result(out)


def _announce(run: _Run) -> None:
    cfg, device = run.cfg, run.device
    precision, why = resolve_precision(cfg, device)
    log.info(f"training {run.method.name} on {cfg.dataset}:{cfg.target} (protected {cfg.protected}), "
             f"{cfg.arch}{f' ({cfg.pretrained})' if cfg.pretrained and not cfg.init else ''} {cfg.size}px, "
             f"{len(run.train_ds)} train / {len(run.val_ds)} val images, {cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''} on {device} "
             f"in {precision} ({why}){f', {run.threads.describe()}' if run.threads else ''}")
    if device.type == "cuda" and loader_workers(cfg.workers, device) == 0:
        log.info("note: no loader workers: the GPU waits while each batch is gathered and copied; "
                 "--workers 6 pins and prefetches batches during the step (1.35x on an H200)")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        log.info("warning: this CPU has no native bf16 (no AVX512-BF16 or AMX): bf16 autocast is emulated and "
                 "4-10x slower than fp32 here; --precision auto or fp32 (experiments: --set precision=fp32)")


def _train_epoch(run: _Run, state: LoopState, sample_weights: Any, budget: list[int | None]) -> bool:
    """The rest of the current epoch's iterations; False when ``budget`` ran out first."""
    cfg, device, method, model, flip_gen = run.cfg, run.device, run.method, run.model, run.gens["flip"]
    if state.step_in_epoch == 0:
        flip_gen.manual_seed(cfg.seed * 100003 + state.epoch)
        state.accum = {"loss_sum": 0.0, "n": 0, "seconds": 0.0}
    model.train()
    run.ctx.epoch = state.epoch
    per_epoch, total_steps = run.per_epoch, run.per_epoch * cfg.epochs
    batches = iterate(run.train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=state.epoch,
                      workers=cfg.workers, drop_last=True, skip=state.step_in_epoch,
                      weights=sample_weights, shard=run.shard, device=device)
    bar = progress_bar(batches, cfg.progress and run.dist.is_main, total=per_epoch, initial=state.step_in_epoch,
                       desc=f"epoch {state.epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
    accum = state.accum
    t0 = time.perf_counter()

    def on_device(b: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], Batch]:
        return b, Batch(to_input(b["x"], device, cfg.channels_last), b["y"].to(device, non_blocking=True),
                        b["group"].to(device, non_blocking=True), b["index"])

    for b, batch in ahead(bar, on_device):  # the next batch is on its way while this one steps
        if cfg.flip:  # drawn here, in step order, so a mid-epoch resume draws the same flips
            batch = Batch(random_flip(batch.x, flip_gen, run.shard), batch.y, batch.group, batch.index)
        for g in run.optimizer.param_groups:
            g["lr"] = cosine_lr(g["base_lr"], state.global_step, total_steps, cfg.schedule)
        try:
            stats = method.train_step(model, batch, run.ctx)
        except FloatingPointError as e:
            last = run.folder.checkpoint("last")
            ids = [str(run.task.data.ids[i]) for i in b["index"][:8].tolist()]
            raise FloatingPointError(
                f"{e} at epoch {state.epoch + 1}, step {state.step_in_epoch + 1} (global step "
                f"{state.global_step + 1}; batch images {', '.join(ids)}{', ...' if len(b['index']) > 8 else ''}); "
                f"last good checkpoint: {last if last.is_file() else 'none yet'}") from None
        if run.threads is not None and (change := run.threads.poll()):
            log.info(change)
        accum["loss_sum"] += stats["loss"] * len(batch)
        accum["n"] += len(batch)
        state.step_in_epoch += 1
        state.global_step += 1
        bar.set_postfix(loss=f"{accum['loss_sum'] / accum['n']:.4f}")
        if budget[0] is not None:
            budget[0] -= 1
        if cfg.checkpoint_every and state.step_in_epoch % cfg.checkpoint_every == 0 and state.step_in_epoch < per_epoch:
            accum["seconds"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            _checkpoint(run, state)
        if budget[0] is not None and budget[0] <= 0:
            bar.close()
            accum["seconds"] += time.perf_counter() - t0
            _checkpoint(run, state)
            return False
    bar.close()
    accum["seconds"] += time.perf_counter() - t0
    return True


def _validate(run: _Run, state: LoopState) -> dict[str, Any]:
    """End the epoch: validate, log a row, keep the best weights, checkpoint; returns the row."""
    cfg, accum = run.cfg, state.accum
    _pool(run, state)
    val = predict(run.method, run.model, run.val_ds, cfg, run.device, desc="validate")
    rep = fairness_report(val.y, val.pred, val.group)
    # pooled: rank 0's accumulator holds every rank's images (only rank 0 writes the row)
    row = {"epoch": state.epoch + 1, "train_loss": accum["loss_sum"] / max(accum["n"], 1),
           "lr": run.optimizer.param_groups[0]["lr"], "train_seconds": accum["seconds"],
           "train_img_per_s": accum["n"] / max(accum["seconds"], 1e-9), "machine": run.machine,
           **validation_fields(rep.overall, val.y)}
    row = json_safe(row)
    state.history.append(row)
    score = math.inf if cfg.select == "last" else row.get(f"val_{cfg.select}")
    score = -math.inf if score is None else score
    state.epoch += 1
    state.step_in_epoch = 0
    if score >= state.best["score"] or cfg.select == "last":
        state.best = {"epoch": state.epoch, "score": float(score) if math.isfinite(score) else 0.0}
        if run.dist.is_main:
            save_atomic(run.model.state_dict(), run.folder.checkpoint("best"))
    _checkpoint(run, state)
    if run.dist.is_main:
        RunFolder(run.out).write_log(state.history, state.best)
    log.info(f"epoch {state.epoch}/{cfg.epochs}: loss {row['train_loss']:.4f}, val accuracy "
             f"{row['val_accuracy']:.4f}, val EOpp gap {_fmt(row['val_equal_opportunity_diff'])}, "
             f"{row['train_img_per_s']:.0f} img/s")
    return row


def _epochs_without_gain(history: list[dict[str, Any]], select: str) -> int:
    """Epochs since the selection metric last rose strictly above every earlier epoch's (early
    stopping; a tie is no gain). Read from the checkpointed history, so a resume agrees."""
    if select == "last":
        return 0
    best, since = -math.inf, 0
    for row in history:
        v = row.get(f"val_{select}")
        if v is not None and v > best:
            best, since = v, 0
        else:
            since += 1
    return since


def _fmt(v: float | None) -> str:
    return "undefined" if v is None else f"{v:.4f}"


def _tensorboard(out: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # noqa: BLE001 - tensorboard not installed: JSON log only
        return None
    return SummaryWriter(str(out / "tensorboard"))
