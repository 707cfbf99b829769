"""Using a trained run: :func:`load_run` rebuilds its model from the run folder, :func:`predict`
gives its scores and predictions on a split (batched, in the run's precision, gathered over
ranks under torchrun)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from . import distributed
from .checkpoint import CKPT_KEYS, load_checkpoint
from .config import TrainConfig, data_paths
from .data import Task
from .data.from_config import load_task
from .data.loader import SplitImages, iterate, n_batches, to_input
from .devices import autocast, resolve_device
from .errors import DataError
from .methods import Method, get_method
from .progress import bar as progress_bar
from .runfolder import RunFolder

log = logging.getLogger(__name__)


@dataclass
class SplitOutput:
    """Scores and hard predictions of a model on a split, aligned with dataset indices."""

    index: np.ndarray
    y: np.ndarray
    group: np.ndarray
    score: np.ndarray
    pred: np.ndarray


@torch.no_grad()
def predict(method: Method, model: nn.Module, ds: SplitImages, cfg: TrainConfig,
            device: torch.device, desc: str = "eval", pass_groups: bool = True) -> SplitOutput:
    """Softmax score of the positive class and argmax prediction for every image of ``ds``.

    In a distributed run each rank predicts every world-th image and all ranks get the whole.

    Parameters
    ----------
    method
        the run's method (its ``predict_logits`` decides how the model answers).
    model
        the trained model, on ``device``.
    ds
        the images of one split.
    cfg
        the run's config (batch size, precision, memory format, workers).
    device
        where the model is.
    desc
        the progress bar's label.
    pass_groups
        False hides the protected labels from the method (another dataset's groups).
    """
    model.eval()
    d = distributed.current()
    if d.enabled:
        ds = SplitImages(ds.task, ds.indices[d.rank::d.world], ds.size)
    keys = ("index", "y", "group", "score", "pred")
    outs: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    bar = progress_bar(iterate(ds, cfg.eval_batch_size, workers=cfg.workers, device=device),
                       cfg.progress and d.is_main, desc=desc, leave=False,
                       total=n_batches(len(ds), cfg.eval_batch_size), unit="batch")
    for b in bar:
        x = to_input(b["x"], device, cfg.channels_last)
        group = b["group"].to(device) if pass_groups else None
        with autocast(cfg, device):
            logits = method.predict_logits(model, x, group).float()
        prob = logits.softmax(1)[:, 1]
        outs["score"].append(prob.cpu().numpy())
        outs["pred"].append(method.decide(logits, group, b["index"]).cpu().numpy())
        for k in ("index", "y", "group"):
            outs[k].append(b[k].numpy())
    mine = {k: np.concatenate(v) if v else np.zeros(0) for k, v in outs.items()}
    if not d.enabled:
        return SplitOutput(**mine)
    parts = distributed.all_gather_arrays(mine)  # rank r holds positions r, r + world, ...
    n = sum(len(p["index"]) for p in parts)
    whole = {k: np.empty(n, dtype=np.result_type(*[p[k].dtype for p in parts])) for k in keys}
    for r, p in enumerate(parts):
        for k in keys:
            whole[k][r::d.world] = p[k]
    return SplitOutput(**whole)


class LoadedRun(NamedTuple):
    """A trained run rebuilt: its config, task, method and model (on ``device``)."""

    cfg: TrainConfig
    task: Task
    method: Method
    model: nn.Module
    device: torch.device


def load_run(out: str | Path, checkpoint: str = "best",
             method_options: dict[str, Any] | None = None, data: bool = True
             ) -> LoadedRun:
    """Rebuild a run's task, method and model with the chosen weights.

    Parameters
    ----------
    out
        the run folder.
    checkpoint
        ``best`` (the selected epoch) or ``last`` (the last saved state).
    method_options
        override the saved ones, for inference-time choices such as FineFACE's
        ``inference`` rule; options that change the model's shape will not load.
    data
        False: the task holds its class and group names only (the run folder's ``task.json``),
        no images, so a run is scored on another dataset without its training data at hand;
        a run folder made before facefair kept that record still reads its training data.
    """
    folder = RunFolder(out)
    cfg = folder.config()
    if method_options:
        cfg.method_options = {**cfg.method_options, **method_options}
    names = None if data else folder.task_names()
    task = Task.names_only(names) if names is not None else _training_task(cfg, folder)
    method = get_method(cfg.method, cfg.method_options)
    model = method.build_model(cfg, task)
    path = folder.checkpoint(checkpoint)
    if checkpoint == "last":
        state = load_checkpoint(path, CKPT_KEYS)["model"]
    else:
        state = load_checkpoint(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise DataError(f"weights do not fit the run's model: {str(e).splitlines()[0]}", path) from None
    device = resolve_device(cfg.device)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    return LoadedRun(cfg, task, method, model, device)


def _training_task(cfg: TrainConfig, folder: RunFolder) -> Task:
    """The run's task read from its training data; where they are not found, the error says
    which path the run folder named."""
    try:
        return load_task(cfg)
    except DataError as e:
        gone = [p for p in data_paths(cfg.to_dict()) if not Path(p).exists()]
        if gone:
            raise DataError(f"{e} (the training data {gone[0]} that {folder.config_file} names: trained elsewhere, "
                            "or its data moved since; 'facefair evaluate RUN --on DATASET --root DIR' scores it "
                            "on data at another path)") from None
        raise
