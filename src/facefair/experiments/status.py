"""``facefair experiment status NAME``: where a table stands, whichever executor runs it: each
step done (or restored), running (on which host, since when, the last epoch it logged), failed
(its error), stopped (its process is gone: it resumes from its last checkpoint) or to run;
and the driver holding the table, if one does. Read from the run folders and the table
folder's records (:class:`~facefair.experiments.table.TableFolder`); nothing is written."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..runfolder import RunFolder
from .graph import Step, label, steps
from .plan import PlannedRun
from .restored import finished
from .table import TableFolder, alive_here

#: the states a step can be in, in the order a summary counts them
STATES = ("done", "running", "failed", "stopped", "to run")


def last_epoch(folder: Path) -> tuple[int, int] | None:
    """The last epoch a run logged and the epochs it trains, or None before its first."""
    try:
        lines = (folder / RunFolder.LOG).read_text().splitlines()
        epochs = int(json.loads((folder / RunFolder.CONFIG).read_text())["epochs"])
        epoch = int(json.loads(lines[-1])["epoch"]) if lines else None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    return (epoch, epochs) if epoch is not None else None


def _done(s: Step) -> str | None:
    """'done' or 'restored' where the step's output is there, else None."""
    if s.kind == "generator":
        from ..generative.training import generator_done

        return "done" if generator_done(s.folder, s.generator) else None
    if s.kind == "choice":
        assert s.run is not None
        return "done" if s.run.done() else None
    if s.kind == "cross":
        assert s.cross is not None
        return "done" if s.cross.done_in(s.folder) else None
    return finished(s.folder)


def step_state(s: Step, table: TableFolder) -> tuple[str, str]:
    """A step's state (one of :data:`STATES`) and the words a status line adds."""
    done = _done(s)
    if done is not None:
        return "done", done if done != "done" else ""
    key = table.step_key(s.folder, s.cross.file() if s.cross is not None else None)
    record = table.read(key) or {}
    progress = ""
    if s.kind == "run" and (e := last_epoch(s.folder)) is not None:
        progress = f", epoch {e[0]}/{e[1]} logged"
    if record.get("state") == "failed":
        return "failed", f"{record.get('error', '')} (on {record.get('host')}, {record.get('since')})"
    if record.get("state") == "running":
        alive = alive_here(record)
        node = f", node {record['node'][:8]}" if record.get("node") else ""
        where = f"on {record.get('host')} (pid {record.get('pid')}{node}) since {record.get('since')}"
        if alive is False:
            return "stopped", f"was {where}; its process is gone{progress}: it resumes when the table runs again"
        return "running", where + progress + ("" if alive else " (another host: as its record says)")
    if s.kind == "run" and RunFolder(s.folder).has_config():
        return "stopped", f"cut short{progress}: it resumes when the table runs again"
    return "to run", ""


def status_lines(planned: list[PlannedRun], table: TableFolder) -> list[str]:
    """One line per step, then the driver and a count per state."""
    graph = steps(planned, split_cross=True)
    lines, counts = [], Counter[str]()
    for s in graph:
        state, words = step_state(s, table)
        counts[state] += 1
        kind = "" if s.kind == "run" else f" [{s.kind}]"
        lines.append(f"  {label(s, table.path)}{kind}: {state}{f' ({words})' if words else ''}")
    driver = table.driver()
    if driver is not None:
        alive = alive_here(driver)
        who = f"on {driver.get('host')} (pid {driver.get('pid')}) since {driver.get('since')}"
        if driver.get("ended"):
            lines.append(f"driver ({driver.get('executor')}): ended, {who}, at {driver['ended']}")
        elif alive is False:
            lines.append(f"driver ({driver.get('executor')}): stopped without ending (killed?), {who}")
        else:
            lines.append(f"driver ({driver.get('executor')}): running, {who}"
                         + (" (another host: as its record says)" if alive is None else ""))
    lines.append(", ".join(f"{counts[k]} {k}" for k in STATES if counts[k]) + f" of {len(graph)} step(s)")
    return lines

