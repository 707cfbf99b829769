"""facefair's messages: every module logs to its own ``logging`` logger under ``facefair``.

A library does not configure logging; the ``facefair`` command does (:func:`show_messages`):
INFO and up, as plain lines on stdout (warnings on stderr), from rank 0 only under torchrun (the other ranks
train the same job and would repeat every line). In Python, ``logging.basicConfig(level=
logging.INFO)`` or :func:`show_messages` shows them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator


class _Stdout(logging.Handler):
    """Plain lines on whatever ``sys.stdout`` is at the time (a test's capture included);
    warnings and errors on stderr, so that a command's output (a table) stays clean."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            print(self.format(record), file=stream, flush=True)
        except Exception:  # noqa: BLE001 - logging must not raise
            self.handleError(record)


def _main_rank(record: logging.LogRecord) -> bool:
    return os.environ.get("RANK", "0") == "0"


def show_messages(level: int = logging.INFO) -> None:
    """Print facefair's messages at ``level`` and up on stdout (idempotent)."""
    logger = logging.getLogger("facefair")
    for h in [h for h in logger.handlers if isinstance(h, _Stdout)]:
        logger.removeHandler(h)
    handler = _Stdout()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_main_rank)
    logger.addHandler(handler)
    logger.setLevel(level)


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.INFO)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


@contextlib.contextmanager
def captured_messages() -> Iterator[list[str]]:
    """The INFO-and-up messages facefair logs inside the block, as a list (a benchmark reads
    which data source a run used from them)."""
    lines: list[str] = []
    logger = logging.getLogger("facefair")
    handler, level = _Collect(lines), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
