"""A table folder (``OUT/<experiment>/<scale>``): the one place that names what an experiment
keeps there besides its run folders. Under ``.facefair/``: the driver's lock (one driver per
table, whichever executor), the shared-storage marker a Ray driver writes for its workers to
find, and one state record per step that is running or failed (host, process, since when,
the error), which ``facefair experiment status`` reads. Run folders stay as the trainer makes
them: a record never lands in one, so a failed start still leaves nothing there."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_json
from ..locks import exclusive


def now() -> str:
    """The time a record carries: UTC, to the second, ISO 8601."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def where() -> dict[str, Any]:
    """This process as a record names it: host and process id."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def alive_here(record: dict[str, Any]) -> bool | None:
    """Whether the process a record names still runs: True or False on this host, None where it
    ran on another (that host alone can tell)."""
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return None
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class TableFolder:
    """The files of one table folder, by name; nothing else spells them."""

    path: Path

    HIDDEN = ".facefair"
    DRIVER_LOCK = "driver.lock"
    MARKER = "shared-storage.marker"
    STATES = "states"
    RESULTS = "results.md"

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def hidden(self) -> Path:
        return self.path / self.HIDDEN

    @property
    def marker(self) -> Path:
        return self.hidden / self.MARKER

    @property
    def results(self) -> Path:
        return self.path / self.RESULTS

    def key(self, folder: Path) -> str:
        """A run folder's record name: its folder below the table, '+' for '/' (grid values are
        plain names, so the name is unique)."""
        try:
            rel = Path(folder).relative_to(self.path).as_posix()
        except ValueError:  # a folder outside the table (cannot happen for a planned run)
            rel = Path(folder).as_posix().strip("/")
        return rel.replace("/", "+")

    def step_key(self, folder: Path, cross_file: str | None = None) -> str:
        """A step's record name: its folder's :meth:`key`, and ``#<file>`` for a cross-dataset
        evaluation of that run (its metrics file)."""
        return self.key(folder) + (f"#{cross_file}" if cross_file else "")

    def state_file(self, key: str) -> Path:
        return self.hidden / self.STATES / f"{key}.json"

    def record(self, key: str, state: str, **fields: Any) -> None:
        """Write a step's state (``running`` or ``failed``) with where and since when."""
        write_json(self.state_file(key), {"state": state, **where(), "since": now(), **fields})

    def clear(self, key: str) -> None:
        """A step that ended well keeps no record: its run folder says it is done."""
        self.state_file(key).unlink(missing_ok=True)

    def read(self, key: str) -> dict[str, Any] | None:
        path = self.state_file(key)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return {"state": "unreadable", "error": f"{path}: not JSON"}
        return doc if isinstance(doc, dict) else None

    @contextlib.contextmanager
    def recording(self, key: str, **fields: Any) -> Iterator[None]:
        """Record a step as running while the block runs, as failed (with its error's first
        line) if it raises, and nothing once it ends well. A KeyboardInterrupt or a kill
        leaves 'running' behind; the status command sees the process gone."""
        self.record(key, "running", **fields)
        try:
            yield
        except Exception as e:
            line = (str(e).splitlines() or [""])[0]
            self.record(key, "failed", error=f"{type(e).__name__}: {line}" if line else type(e).__name__, **fields)
            raise
        self.clear(key)

    def driver(self) -> dict[str, Any] | None:
        """The record of the driver that holds (or last held) this table."""
        try:
            doc = json.loads((self.hidden / self.DRIVER_LOCK).read_text() or "null")
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    @contextlib.contextmanager
    def claim_driver(self, executor: str) -> Iterator[None]:
        """Hold the table for one driver: a second ``facefair experiment run`` on the same table
        folder is refused while the first runs (whichever executor either uses)."""
        self.hidden.mkdir(parents=True, exist_ok=True)
        with exclusive(self.hidden / self.DRIVER_LOCK, self._busy) as fd:  # the record stays as the last driver's
            record = {**where(), "since": now(), "executor": executor}
            self._rewrite(fd, record)
            try:
                yield
            finally:
                self._rewrite(fd, {**record, "ended": now()})

    def _busy(self) -> str:
        held = self.driver() or {}
        who = f" (host {held.get('host')}, pid {held.get('pid')}, since {held.get('since')})" if held else ""
        return (f"{self.path}: another facefair experiment driver is running this table{who}; wait for it "
                "to end, or see 'facefair experiment status'")

    @staticmethod
    def _rewrite(fd: int, record: dict[str, Any]) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
