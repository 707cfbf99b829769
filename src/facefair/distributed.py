"""Data-parallel training under ``torchrun``: one process per rank, gradients averaged.

Every training method in facefair funnels each optimizer update through the trainer's one
``StepContext.step``, but many of them forward through parts of the model (FineFACE's
experts, ASAC's protected classifier on the backbone, the adversary of adversarial debiasing)
rather than through ``model(x)``. PyTorch's ``DistributedDataParallel`` wrapper only
synchronises gradients for a backward that follows a forward through the wrapper itself,
so it would silently skip those. facefair therefore does DDP's synchronisation in that one
place instead: after ``backward`` the gradients of all ranks are summed in one flattened
all-reduce and divided by the world size, which is exactly the averaged gradient DDP
produces, for every method. Parameters and buffers are broadcast from rank 0 at the start
(DDP's construction-time broadcast), so every rank steps the same model.

Batches: the trainer draws the same global batch order on every rank (a pure function of
seed and epoch) and each rank takes every ``world``-th image of each batch. With equal
shards, the mean of the ranks' mean losses is the global batch's mean loss, and with
synchronised BatchNorm the forward pass sees the global batch's statistics, so two ranks
step like one process on the same data up to floating-point summation order.

Synchronised BatchNorm: ``torch.nn.SyncBatchNorm`` on CUDA (NCCL); PyTorch's refuses CPU
tensors, so on CPU (gloo) :class:`CpuSyncBatchNorm` all-reduces per-channel sums with the
differentiable all-reduce. Both keep BatchNorm's state_dict keys, so a checkpoint of a
distributed run loads into a single-process model and back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .errors import ConfigError


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: rank, world size and local (per-machine) rank."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes files and prints."""
        return self.rank == 0


_CURRENT = Dist()


def current() -> Dist:
    """The job this process belongs to (a single process unless :func:`setup` joined one)."""
    return _CURRENT


def from_env() -> Dist:
    """What torchrun's environment says (RANK, WORLD_SIZE, LOCAL_RANK); one process without it."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as e:
        raise ConfigError(f"malformed torchrun environment: {e}") from None
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"malformed torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return Dist(rank, world, local)


def setup(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the torchrun job if there is one: NCCL and this rank's GPU on CUDA, gloo on CPU."""
    global _CURRENT
    d = from_env()
    if not d.enabled:
        _CURRENT = d
        return d, device
    if device.type == "cuda":
        device = torch.device("cuda", d.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=timedelta(minutes=30))
    if dist.get_world_size() != d.world or dist.get_rank() != d.rank:
        raise ConfigError("the process group does not match RANK/WORLD_SIZE")
    _CURRENT = d
    return d, device


def shutdown(sync: bool = True) -> None:
    """Leave the process group at the end of a distributed run.

    ``sync`` first waits for every rank (rank 0's last files are written before any rank
    reports done, and no rank tears down its gloo connections while a peer still uses them,
    which aborts the peer); after an error it is skipped, as the others may never arrive.
    """
    global _CURRENT
    if dist.is_initialized():
        if sync:
            dist.barrier()
        dist.destroy_process_group()
    _CURRENT = Dist()


def barrier() -> None:
    if _CURRENT.enabled:
        dist.barrier()


def broadcast_state(model: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (what DDP does when built)."""
    if not _CURRENT.enabled:
        return
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src=0)


def average_gradients(params: Sequence[nn.Parameter]) -> None:
    """Replace every gradient by its mean over the ranks, in one flattened all-reduce.

    A parameter that got no gradient on some rank but did on another gets zeros there first,
    so all ranks reduce the same buffer and take the same optimizer step.
    """
    if not _CURRENT.enabled:
        return
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    device = params[0].device
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.uint8, device=device)
    dist.all_reduce(has, op=dist.ReduceOp.MAX)
    used = [p for p, h in zip(params, has.tolist()) if h]
    for p in used:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    if not used:
        return
    flat = torch.cat([p.grad.reshape(-1).float() for p in used])
    dist.all_reduce(flat)
    flat.div_(_CURRENT.world)
    offset = 0
    for p in used:
        n = p.grad.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n


def all_gather_arrays(arrays: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Every rank's dict of numpy arrays, in rank order (evaluation results of each shard)."""
    if not _CURRENT.enabled:
        return [arrays]
    out: list[Any] = [None] * _CURRENT.world
    dist.all_gather_object(out, arrays)
    return out


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """Sums of a few numbers over the ranks (training loss and image counts)."""
    if not _CURRENT.enabled:
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


class _GlobalSum(torch.autograd.Function):
    """Sum over the ranks in the default group, differentiable (the backward sums too).

    ``torch.distributed.nn.functional.all_reduce`` does the same arithmetic but keeps the
    process group in the graph it builds, so a graph still referenced after
    :func:`shutdown` (a script's last ``loss``) kept gloo's threads alive into interpreter
    exit, where one rank aborted ("terminate called without an active exception", in CI).
    This one holds nothing but the graph edge.
    """

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _GlobalSum.apply(grad)


class CpuSyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are those of the global batch over all ranks.

    Per-channel sum, sum of squares and count are summed over the ranks by
    :class:`_GlobalSum`, whose backward sums the gradients too, so the loss's dependence on
    other ranks' images through the statistics is kept, as in ``torch.nn.SyncBatchNorm``.
    Works for any input with channels on dim 1.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)  # evaluation, or a single process: plain BatchNorm
        dims = [0] + list(range(2, x.dim()))
        xf = x.float()
        count = torch.full((1,), xf.numel() / xf.shape[1], dtype=torch.float32, device=x.device)
        stats = _GlobalSum.apply(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0.0)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                unbiased = var.detach() * (n / (n - 1).clamp_min(1.0))
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
        return y.to(x.dtype)


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Swap every BatchNorm for its synchronised form (same parameters, buffers and keys)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _convert_cpu(model)


def _convert_cpu(module: nn.Module) -> nn.Module:
    if isinstance(module, _BatchNorm) and not isinstance(module, CpuSyncBatchNorm):
        new = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, _convert_cpu(child))
    return module
