"""Errors that reach a user as a one-line message instead of a traceback.

Every error raised on bad input derives from :class:`FaceFairError`; the CLI prints
its message and exits non-zero. Messages name the file (and line) at fault.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class FaceFairError(Exception):
    """Base class: an error caused by input or configuration, shown without traceback."""


class DataError(FaceFairError):
    """A dataset file is missing, malformed or inconsistent."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line


class ConfigError(FaceFairError):
    """An option or configuration value is invalid."""


def unknown_name(kind: str, name: str, choices: Iterable[str], where: str | None = None) -> FaceFairError:
    """An error for an unknown name that suggests the closest valid one."""
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if not close:  # case-insensitive second chance: 'smiling' -> 'Smiling'
        lowered = {c.lower(): c for c in choices}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listing = ", ".join(choices[:50]) + (" ..." if len(choices) > 50 else "")
    prefix = f"{where}: " if where else ""
    return ConfigError(f"{prefix}unknown {kind} '{name}'{hint} (choices: {listing})")
