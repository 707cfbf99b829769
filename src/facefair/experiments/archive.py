"""The record that is kept of an experiment (``results.json``: every evaluated run's
documents and identity; run folders are scratch) and the restore that rebuilds run folders
from it, so a table split over machines or sessions is finished without training its done
rows again."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..errors import ConfigError, DataError
from ..report.tables import load_metrics
from ..runfolder import RunFolder, training_record
from .identity import PRECISION_KEYS, VOLATILE, identity, precision_of, same_training
from .plan import PlannedRun
from .restored import RESTORED, read_restored, run_validation
from .spec import Experiment

log = logging.getLogger(__name__)


def archive(exp: Experiment, planned: list[PlannedRun], scale: str,
            sets: dict[str, Any] | None = None) -> dict[str, Any]:
    """The evaluation documents behind the results tables, one per evaluated run, with what
    identifies the run (row label, seed, method, grid values) and its cross-dataset documents."""
    runs = []
    for p in planned:
        if not p.done():
            continue
        if p.choice is not None:  # the record of a choice: which run, not a copy of its documents
            picked = p.pick()
            assert picked is not None
            kept = read_restored(p.folder)  # a restored pick keeps its own words, not "restored from"
            why = picked[1].removesuffix(f" (restored from {kept['archive']})") if kept is not None else picked[1]
            runs.append({"run": p.run_id, "label": p.label, "seed": p.seed, "method": "choose", "grid": p.grid,
                         "chosen": picked[0].run_id, "why": why})
            continue
        cross = {name: load_metrics(p.folder / name) for name in (c.file() for c in exp.cross)
                 if (p.folder / name).is_file()}
        kept = read_restored(p.folder)
        entry = {"run": p.run_id, "label": p.label, "seed": p.seed, "method": p.method, "grid": p.grid,
                 "folder": p.folder.relative_to(p.folder.parents[1 if p.grid else 0]).as_posix(),
                 "metrics": load_metrics(p.folder), "cross": cross}
        if kept is not None:  # a restored run's record is carried over as it was
            entry.update({k: kept[k] for k in ("validation", "identity", "trained") if kept.get(k) is not None})
        else:
            try:
                entry["validation"] = run_validation(p.folder)
            except DataError:
                pass  # a run folder made before validation was logged
            if RunFolder(p.folder).has_config():
                entry["identity"] = identity(RunFolder(p.folder).config())
            if trained := training_record(p.folder):
                entry["trained"] = trained
        runs.append(entry)
    return {"experiment": exp.name, "paper": exp.paper, "scale": scale, "set": dict(sets or {}), "runs": runs}


def _read_archive(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable results.json archive ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise DataError(f"{path}: not a results.json archive (no 'runs' list)")
    return doc


def _unprecise(sets: dict[str, Any]) -> dict[str, Any]:
    """``--set`` options that change what is trained (not how fast: threads, workers)."""
    return {k: v for k, v in sets.items() if k not in PRECISION_KEYS and k not in VOLATILE}


def restore_archive(exp: Experiment, planned: list[PlannedRun], path: str | Path, scale: str,
                    sets: dict[str, Any] | None = None) -> int:
    """Fill the run folders not made yet from a ``results.json`` archive of the same
    experiment, scale and ``--set`` options. A restored folder holds the archived evaluation
    documents (``metrics.json``, cross-dataset files) and ``restored.json``; it has no
    checkpoint, so nothing is evaluated there again. Choice rows take the archive's pick while
    all their candidates are restored; a base whose fine-tune is not in the archive is
    trained, not restored (the fine-tune needs its weights). Returns how many folders were
    restored."""
    path = Path(path)
    doc = _read_archive(path)
    # precision is compared run by run (what each trained in), not by how a --set asked for it:
    # an fp32 archive restores where --precision auto resolves to fp32, with or without --set bf16=false
    want = {"experiment": exp.name, "scale": scale, "set": _unprecise(sets or {})}
    have = {"experiment": doc.get("experiment"), "scale": doc.get("scale"), "set": _unprecise(doc.get("set", {}))}
    if have != want:
        diff = ", ".join(f"{k} {have[k]!r} (here {want[k]!r})" for k in want if have[k] != want[k])
        raise ConfigError(f"{path}: archive of another plan: {diff}")
    records: dict[tuple[str, int, str], dict[str, Any]] = {}
    for i, r in enumerate(doc["runs"], start=1):
        try:
            key = (r["run"], int(r["seed"]), json.dumps(r.get("grid", {}), sort_keys=True))
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: run record {i} lacks run, seed or grid") from None
        records[key] = r

    def record(p: PlannedRun) -> dict[str, Any] | None:
        return records.get((p.run_id, p.seed, json.dumps(p.grid, sort_keys=True)))

    # A base whose fine-tune still has to train is trained too: a restored folder has no weights.
    must_train = {p.base for p in reversed(planned)  # fine-tunes after their bases: walk back
                  if p.base is not None and p.choice is None and not RunFolder(p.folder).is_evaluated()
                  and (record(p) is None or p.folder.exists())}
    for p in reversed(planned):
        if p.folder in must_train and p.base is not None:
            must_train.add(p.base)
    cross_files = {c.file() for c in exp.cross}
    restored = 0
    for p in planned:  # runs before the choice rows that read them
        r = record(p)
        if (r is None or p.choice is not None or RunFolder(p.folder).is_evaluated() or p.folder.exists()
                or p.folder in must_train):
            continue
        if r.get("method") != p.method or "metrics" not in r:
            raise DataError(f"{path}: run {p.run_id} seed {p.seed}: archived method {r.get('method')!r}, "
                            f"planned {p.method!r}")
        if r.get("identity") is not None:
            try:
                planned_identity = identity(p.config())
            except ConfigError:
                planned_identity = None  # a fine-tune whose base is restored: compared without it
            if planned_identity is not None and not same_training(planned_identity, r["identity"]):
                was, now = precision_of(r["identity"]), precision_of(planned_identity)
                raise ConfigError(f"{path}: run {p.run_id} seed {p.seed} was trained with another config "
                                  "than the experiment file plans now " + (
                                      f"(in {was}, where this machine plans {now}: --set precision={was})"
                                      if was != now else "(the file changed?)"))
        tmp = p.folder.with_name(f".{p.folder.name}.restore")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        write_text(tmp / RunFolder.METRICS, json.dumps(r["metrics"], indent=1) + "\n")
        for name, cdoc in (r.get("cross") or {}).items():
            if name not in cross_files:  # an archive travels between machines: it names no path
                shutil.rmtree(tmp, ignore_errors=True)
                raise DataError(f"{path}: run {p.run_id} seed {p.seed}: cross-dataset file {name!r} is not one "
                                f"this experiment writes ({', '.join(sorted(cross_files)) or 'none'})")
            write_text(tmp / name, json.dumps(cdoc, indent=1) + "\n")
        write_text(tmp / RESTORED, json.dumps({"archive": str(path), "seed": p.seed, "validation": r.get("validation"),
                                                "identity": r.get("identity"),
                                                "trained": r.get("trained")}, indent=1) + "\n")
        os.replace(tmp, p.folder)
        restored += 1
    for p in planned:
        r = record(p)
        if (r is None or p.choice is None or r.get("method") != "choose" or read_restored(p.folder) is not None
                or not all(read_restored(q.folder) is not None for q in p.choice.among)):
            continue
        p.folder.mkdir(parents=True, exist_ok=True)
        write_text(p.folder / RESTORED, json.dumps({"archive": str(path), "chosen": r["chosen"], "why": r["why"]},
                                                   indent=1) + "\n")
    log.info(f"restored {restored} run folder(s) from {path}")
    return restored
