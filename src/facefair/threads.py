"""How many CPU threads a run computes with: the cores other processes leave it, re-read as it runs.

torch's OpenMP threads meet at a barrier after every operator. Alone, one thread per core is
fastest (ResNet-18 at 64 px, bf16, 2-core AMD EPYC: 243 img/s with 2 threads, 148 with 1). Beside
another busy process a thread of the team is often descheduled and the rest wait for it: two
such trainings together each took 3.6x their time alone with spinning threads, 8.6x with
threads that sleep while they wait (OMP_WAIT_POLICY=PASSIVE), and 0.99x with one thread each
(docs/BENCHMARKS.md, shared_cpu). So a run starts with one thread per usable core and a
:class:`ThreadGovernor` re-reads, every few seconds, how busy the other processes keep those
cores (/proc/stat less this process's own CPU time), and uses the cores they leave free.
``--threads N`` fixes the count. This module does not import torch at module level.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable


def wait_policy() -> str:
    """How this process's OpenMP threads wait, as the line that starts a run says it."""
    env = os.environ.get("OMP_WAIT_POLICY")
    return f"OMP_WAIT_POLICY={env}" if env else "spinning (torch's default)"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    cpus = _affinity()
    return len(cpus) if cpus is not None else os.cpu_count() or 1


def local_processes() -> int:
    """Processes of this job on this machine (torchrun's LOCAL_WORLD_SIZE; 1 without it)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def thread_count(requested: int | None) -> tuple[int, str]:
    """The intra-op threads a run starts with and why: ``requested`` as given, else the usable
    cores shared out among this job's processes on the machine (at least one each)."""
    if requested is not None:
        if requested < 1:
            from .errors import ConfigError

            raise ConfigError(f"--threads must be at least 1, got {requested}")
        return requested, "asked for"
    cores, procs = usable_cores(), local_processes()
    if procs > 1:
        return max(1, cores // procs), f"{cores} usable cores shared by {procs} processes"
    return cores, f"one per usable core of {cores}"


def busy_seconds(cpus: set[int] | None = None) -> float | None:
    """Core-seconds the CPUs in ``cpus`` (all: None) have been busy since boot (/proc/stat:
    everything but idle and iowait, steal included); None where /proc/stat is not there."""
    try:
        with open("/proc/stat") as f:
            lines = [line.split() for line in f if line.startswith("cpu") and line[3].isdigit()]
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = 0
    for parts in lines:
        if cpus is not None and int(parts[0][3:]) not in cpus:
            continue
        values = [int(v) for v in parts[1:9]]  # user nice system idle iowait irq softirq steal
        busy += sum(values) - values[3] - values[4]
    return busy / ticks


def own_seconds() -> float:
    """CPU seconds this process has used, all its threads together."""
    t = os.times()
    return t.user + t.system


class ThreadGovernor:
    """Keeps torch's thread count at the cores other processes leave free, up to ``limit``.

    :meth:`poll` is cheap (a clock read) between readings; every ``interval`` seconds it
    compares the cores' busy time with this process's own and sets the count to the free
    cores (a core is taken once others keep it 3/4 busy; at least 1 thread). Fixed (never
    changes) when the count was asked for or /proc/stat cannot be read.
    """

    def __init__(self, requested: int | None, interval: float = 2.0,
                 set_threads: Callable[[int], None] | None = None,
                 busy: Callable[[], float | None] | None = None,
                 own: Callable[[], float] = own_seconds, clock: Callable[[], float] = time.monotonic):
        if set_threads is None:
            import torch

            set_threads = torch.set_num_threads
        self.limit, self.why = thread_count(requested)
        self.cores = usable_cores()
        cpus = _affinity()
        self._busy = busy if busy is not None else (lambda: busy_seconds(cpus))
        self._own, self._clock, self._set = own, clock, set_threads
        self.interval = interval
        self.threads = self.limit
        self._set(self.threads)
        self._last = self._reading()
        self.fixed = requested is not None or self._last is None

    def _reading(self) -> tuple[float, float, float] | None:
        busy = self._busy()
        return None if busy is None else (self._clock(), busy, self._own())

    def poll(self) -> str | None:
        """Re-read the load when ``interval`` has passed; a message when the count changed."""
        if self.fixed or self._clock() - self._last[0] < self.interval:  # type: ignore[index]
            return None
        now = self._reading()
        if now is None:
            return None
        (t0, busy0, own0), (t1, busy1, own1) = self._last, now  # type: ignore[misc]
        self._last = now
        others = max(0.0, (busy1 - busy0) - (own1 - own0)) / max(t1 - t0, 1e-9)
        # a core counts as taken once others keep it 3/4 busy: background noise moves nothing
        want = max(1, min(self.limit, math.ceil(self.cores - others - 0.25)))
        if want == self.threads:
            return None
        old, self.threads = self.threads, want
        self._set(want)
        return (f"CPU threads {old} -> {want}: other processes keep {others:.1f} of {self.cores} "
                f"cores busy")

    def describe(self) -> str:
        """The setting in words for the line that starts a run."""
        adapt = ("" if self.fixed else f", fewer while other processes keep the cores busy "
                 f"(re-read every {self.interval:g} s)")
        n = self.threads
        return f"{n} CPU thread{'s' if n != 1 else ''} ({self.why}{adapt}), OpenMP wait {wait_policy()}"


def _affinity() -> set[int] | None:
    """The CPUs this process may run on; None where the system does not say (not on Linux)."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:
        return None
