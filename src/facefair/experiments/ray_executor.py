"""A table's steps as Ray tasks (``facefair experiment run NAME --executor ray``): every step of
the plan's graph (:mod:`.graph`) is one task with its resources, its inputs passed as Ray
object references, so Ray itself starts a fine-tune once its base is done, a generative row
once its generator is, a cross evaluation once its run is and a chosen row once its
candidates are; as many run at once as the cluster's resources allow.

Each task makes its step with :func:`~facefair.experiments.execute.perform`, exactly what the
sequential runner calls, so the run folders, locks, refusals and records are the same.
Faults: a task whose worker process or node dies is retried by Ray (``max_retries``) and its
run resumes from its last checkpoint; a task that raises (a bad option, a NaN loss) is not
retried, the steps that need it are not started, the others finish. Shared storage: the
driver writes a marker in the table folder first; a task that cannot read it fails at once
naming its node and the path."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..threads import usable_cores
from .execute import perform
from .graph import Step, label, steps
from .plan import PlannedRun
from .table import TableFolder

log = logging.getLogger(__name__)

#: what a user without the extra is told
EXTRA = 'the Ray executor needs Ray: pip install "facefair[ray]"'
#: Ray's switch that keeps a one-machine instance on 127.0.0.1 (no other node can join it)
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: times Ray restarts a task whose worker process or node died (not one that raised)
MAX_RETRIES = 3


def require_ray(local: bool = False) -> Any:
    """The ``ray`` module, or a one-line error naming the extra that brings it. ``local``: Ray
    will be started here for this table alone, so it listens on the loopback address only (Ray
    reads that setting when it is imported: a process that imported it before keeps its own)."""
    # each run's own lines, not Ray's "[repeated 3x across cluster]" summaries of them
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if local and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    try:
        import ray
    except ImportError:
        raise ConfigError(EXTRA) from None
    return ray


class SharedStorageError(ConfigError):
    """A worker cannot see the table folder the driver writes (``--out`` is not shared)."""


@dataclass(frozen=True)
class RaySettings:
    """Where and with what each task runs: ``address`` of a running cluster (``auto``: the one
    ``ray start`` made on this machine; None: start Ray here for this table), CPUs per run
    (also the run's torch threads) and GPUs per run (None: one at scale ``gpu``, else none)."""

    address: str | None = None
    cpus_per_run: int = 1
    gpus_per_run: float | None = None

    def resolved(self, scale: str) -> RaySettings:
        if self.cpus_per_run < 1:
            raise ConfigError(f"--cpus-per-run must be at least 1, got {self.cpus_per_run}")
        if self.gpus_per_run is not None and self.gpus_per_run < 0:
            raise ConfigError(f"--gpus-per-run must be at least 0, got {self.gpus_per_run}")
        gpus = self.gpus_per_run if self.gpus_per_run is not None else (1 if scale == "gpu" else 0)
        return replace(self, gpus_per_run=gpus)

    def describe(self) -> str:
        where = f"cluster at {self.address}" if self.address else "Ray started on this machine"
        return f"{where}; {self.cpus_per_run} CPU(s) and {self.gpus_per_run or 0:g} GPU(s) a run"


def check_shared(marker: Path, token: str) -> None:
    """In a task: the driver's marker must be there, with this table's token."""
    try:
        ok = marker.read_text() == token
    except OSError:
        ok = False
    if not ok:
        node = _node_id()
        raise SharedStorageError(
            f"node {socket.gethostname()} ({node or 'no Ray node'}) cannot see {marker.parent.parent}: "
            "--out must be a folder every worker sees at the same path (shared storage)")


def _node_id() -> str | None:
    try:
        import ray
    except ImportError:  # pragma: no cover - a driver without Ray writes no marker
        return None
    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def _task(step: Step, table: TableFolder, marker: Path, token: str, pool: Path, threads: int,
          *needs: Any) -> dict[str, Any]:
    """One step in a Ray worker (``needs``: the results of the steps it reads, so Ray starts it
    after them)."""
    check_shared(marker, token)
    if not logging.getLogger().handlers:  # a worker's lines reach the driver through Ray's log
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    node = _node_id()
    status = perform(step, table, progress=False, pool=pool, threads=threads, node=node)
    return {"status": status, "host": socket.gethostname(), "node": node, "pid": os.getpid()}


def run_on_ray(planned: list[PlannedRun], table: TableFolder, settings: RaySettings, progress: bool,
               pool: Path) -> list[str]:
    """Run every step as a Ray task and wait for all; returns a line per step that failed (or
    was not started because a step it needs failed). Ctrl-C cancels every task; what they
    trained resumes on the next run."""
    ray = require_ray(local=not settings.address)
    graph = steps(planned, split_cross=True)
    started = not ray.is_initialized()
    if started:
        # "local": a new instance for this table, even where another Ray runs on this machine
        kwargs: dict[str, Any] = {"address": settings.address} if settings.address else {
            "address": "local", "include_dashboard": False, "num_cpus": usable_cores()}
        try:
            ray.init(log_to_driver=True, **kwargs)
        except ConnectionError as e:
            raise ConfigError(f"--address {settings.address}: no Ray cluster answers there ({e})") from None
    token = secrets.token_hex(16)
    table.hidden.mkdir(parents=True, exist_ok=True)
    table.marker.write_text(token)
    remote = ray.remote(_task)
    refs: dict[str, Any] = {}
    names: dict[Any, Step] = {}
    try:
        resources = ray.cluster_resources()
        log.info(f"Ray: {resources.get('CPU', 0):g} CPU(s), {resources.get('GPU', 0):g} GPU(s) on "
                 f"{len(ray.nodes())} node(s); {settings.describe()}")
        if settings.gpus_per_run and resources.get("GPU", 0) < settings.gpus_per_run:
            raise ConfigError(f"each run asks for {settings.gpus_per_run:g} GPU(s) but the Ray cluster has "
                              f"{resources.get('GPU', 0):g}; pass --gpus-per-run 0 to train on CPUs")
        if resources.get("CPU", 0) < settings.cpus_per_run:
            raise ConfigError(f"each run asks for {settings.cpus_per_run} CPU(s) but the Ray cluster has "
                              f"{resources.get('CPU', 0):g}; lower --cpus-per-run")
        for s in graph:  # in dependency order: every input's reference exists before its reader's
            opts = ({"num_cpus": settings.cpus_per_run, "num_gpus": settings.gpus_per_run or 0} if s.trains
                    else {"num_cpus": 0})
            ref = remote.options(max_retries=MAX_RETRIES, retry_exceptions=False, name=label(s, table.path),
                                 **opts).remote(s, table, table.marker, token, pool, settings.cpus_per_run,
                                                *(refs[n] for n in s.needs))
            refs[s.key] = ref
            names[ref] = s
        return _wait(ray, graph, refs, names, table)
    except KeyboardInterrupt:
        pending = list(refs.values())
        for ref in pending:
            ray.cancel(ref, force=True)
        log.info(f"cancelled the table's {len(pending)} Ray task(s); every run resumes from its last "
                 "checkpoint when the table is run again")
        raise
    finally:
        table.marker.unlink(missing_ok=True)
        if started:
            ray.shutdown()


def _wait(ray: Any, graph: list[Step], refs: dict[str, Any], names: dict[Any, Step],
          table: TableFolder) -> list[str]:
    """Log each step as it ends; the failures, each once: a step that raised names its error,
    a step whose input failed names that input."""
    pending = list(refs.values())
    errors: dict[str, str] = {}
    n = len(pending)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for ref in done:
            s = names[ref]
            try:
                got = ray.get(ref)
            except ray.exceptions.RayError as e:
                errors[s.key] = _one_line(e)
                continue
            where = f" on {got['host']}" + (f" (node {got['node'][:8]})" if got.get("node") else "")
            log.info(f"[{n - len(pending)}/{n}] {label(s, table.path)}: {got['status']}{where}")
    failed: list[str] = []
    by_key = {s.key: s for s in graph}
    for s in graph:  # in dependency order: an input's failure is named before its readers'
        if s.key not in errors:
            continue
        bad = [k for k in s.needs if k in errors]
        if bad:
            failed.append(f"{label(s, table.path)}: not run, it needs {label(by_key[bad[0]], table.path)}, which failed")
        else:
            failed.append(f"{label(s, table.path)}: {errors[s.key]}")
    for line in failed:
        log.error(line)
    return failed


def _one_line(e: BaseException) -> str:
    """A task's error as one line: the exception the step raised, not Ray's traceback."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, BaseException):
        e = cause
    text = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
