"""An exclusive lock on a file, held by one process: POSIX ``flock``, released by the kernel
when the holder dies, so never left stuck. A run folder's lock (:meth:`RunFolder.claim`) and
a table's driver lock (:meth:`~facefair.experiments.table.TableFolder.claim_driver`) are both
this one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def exclusive(path: Path, busy: Callable[[], str]) -> Iterator[int]:
    """Open (creating) ``path`` and hold it locked while the block runs; yields the open file
    descriptor. Held by another process: a :class:`ConfigError` with ``busy()``'s words."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(busy()) from None
        yield fd
    finally:
        os.close(fd)  # releases the lock
