"""How many CPU threads a run computes with, and how they wait between parallel regions.

torch's OpenMP threads spin while they wait for work. Alone on a machine that is the fastest
way to wait; beside another busy process it is ruinous: on a 2-core AMD EPYC, ResNet-18 at
64 px with one other busy process trained at 12 img/s with 2 spinning threads, 24 with 1 thread
and 31 with 2 threads that sleep while they wait (OMP_WAIT_POLICY=PASSIVE). So facefair asks
OpenMP to wait passively, and uses one thread per core this process may run on.

The wait policy is read once, when torch loads its OpenMP runtime: :func:`prefer_passive_wait`
must run before ``import torch`` (``import facefair`` calls it; the ``facefair`` command
imports torch only later). An OMP_WAIT_POLICY the user set always wins. This module does not
import torch at module level.
"""

from __future__ import annotations

import os
import sys

#: what facefair found when it was imported: the policy it set, or why it set none
_WAIT_NOTE: str | None = None


def prefer_passive_wait() -> None:
    """Set OMP_WAIT_POLICY=PASSIVE for this process, unless the user set a policy or torch
    (and with it the OpenMP runtime) is already loaded, where setting it would change nothing."""
    global _WAIT_NOTE
    if _WAIT_NOTE is not None:
        return
    if "OMP_WAIT_POLICY" in os.environ:
        _WAIT_NOTE = f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} (set before facefair)"
    elif "torch" in sys.modules:
        _WAIT_NOTE = "spinning (torch was imported before facefair; set OMP_WAIT_POLICY=PASSIVE to share the CPU)"
    else:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        _WAIT_NOTE = "passive"


def wait_policy() -> str:
    """How this process's OpenMP threads wait, as the line that starts a run says it."""
    prefer_passive_wait()
    assert _WAIT_NOTE is not None
    return _WAIT_NOTE


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_processes() -> int:
    """Processes of this job on this machine (torchrun's LOCAL_WORLD_SIZE; 1 without it)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def thread_count(requested: int | None) -> tuple[int, str]:
    """The intra-op threads a run uses and why: ``requested`` as given, else the usable cores
    shared out among this job's processes on the machine (at least one each)."""
    if requested is not None:
        if requested < 1:
            from .errors import ConfigError

            raise ConfigError(f"--threads must be at least 1, got {requested}")
        return requested, "asked for"
    cores, procs = usable_cores(), local_processes()
    if procs > 1:
        return max(1, cores // procs), f"{cores} usable cores shared by {procs} processes"
    return cores, f"one per usable core of {cores}"


def set_threads(requested: int | None) -> str:
    """Give torch the threads of :func:`thread_count`; returns the setting in words for the
    line that starts a run."""
    import torch

    n, why = thread_count(requested)
    torch.set_num_threads(n)
    return f"{n} CPU thread{'s' if n != 1 else ''} ({why}), OpenMP wait {wait_policy()}"
