"""One way to make a planned step, whichever executor runs it: a run folder trained, resumed,
reused from an identical finished run, restored from an archive, or skipped as done, then its
evaluations; the experiment's generator; a cross-dataset evaluation; a chosen row's pick. The
sequential runner calls these in its own process, the Ray executor in its tasks; both record
each step's state in the table folder (:class:`~facefair.experiments.table.TableFolder`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..config import resolve_data_paths
from ..errors import ConfigError
from ..evaluation import evaluate, evaluate_on, options_tag, output_names
from ..mitigation import mitigation_warnings, postprocess
from ..runfolder import RunFolder
from ..trainer import train
from .graph import Step
from .identity import find_same, identity, link_copy
from .plan import PlannedRun
from .restored import finished
from .spec import CrossSpec
from .table import TableFolder

log = logging.getLogger(__name__)


def perform(step: Step, table: TableFolder, progress: bool, pool: Path | None = None,
            threads: int | None = None, **where: Any) -> str:
    """Make one step, its state recorded in ``table`` while it runs (and its error if it
    fails); returns what a log line says of it. ``where`` goes into the record (a Ray node)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)  # evaluations and thresholds too, not only training
    key = table.step_key(step.folder, step.cross.file() if step.cross is not None else None)
    if step.kind == "choice":
        assert step.run is not None
        picked = step.run.pick()
        return f"chose {picked[0].run_id}" if picked is not None else "nothing to choose from yet"
    with table.recording(key, kind=step.kind, **where):
        if step.kind == "generator":
            ensure_generator(step.folder, step.generator, progress, threads)
            return "generator ready"
        assert step.run is not None
        if step.kind == "cross":
            assert step.cross is not None
            return cross_evaluate(step.folder, step.cross, progress)
        return execute(step.run, progress, pool, cross=step.inline_cross, threads=threads)


def execute(run: PlannedRun, progress: bool, pool: Path | None = None, cross: bool = True,
            threads: int | None = None) -> str:
    """Make one run folder: 'restored', 'done' (skipped), 'reused', 'resumed' or 'trained';
    then its evaluations, and with ``cross`` its cross-dataset evaluations (the Ray executor
    makes each of those a step of its own). ``pool`` is where finished runs may be reused
    from; ``threads`` fixes the run's CPU threads (a Ray task's CPUs)."""
    if finished(run.folder) == "restored":
        return "restored"  # its evaluations are the archive's (and a restored base has no config to plan from)
    if run.generator is not None and not RunFolder(run.folder).is_evaluated():
        ensure_generator(*run.generator, progress=progress)
    cfg = run.config()
    cfg.progress = progress
    if threads is not None:
        cfg.threads = threads
    folder = RunFolder(run.folder)
    status = "trained"
    if folder.has_config():
        if resolve_data_paths(identity(folder.config())) != resolve_data_paths(identity(cfg)):
            raise ConfigError(f"{run.folder}: its config.json differs from the experiment's plan "
                              "(the experiment file changed?); remove the folder or use another --out")
        status = "done" if RunFolder(run.folder).is_evaluated() else "resumed"
    elif pool is not None and (same := find_same(pool, cfg, run.folder)) is not None:
        link_copy(same, run.folder)
        log.info(f"reusing {same} (same config)")
        status = "reused"
    if run.method == "postprocess" and run.base is not None:  # thresholds, not training
        if status == "resumed":
            raise ConfigError(f"{run.folder}: a post-processing that did not finish; remove the folder")
        if status == "trained":
            postprocess(run.base, run.folder, str(run.options.get("constraint", "equalized_odds")),
                        seed=int(run.options.get("seed", 0)), progress=progress)
    elif status in ("trained", "resumed"):
        train(cfg, run.folder, resume=status == "resumed")
        if run.base is not None:  # a fine-tune says when it ended worse than its base, or collapsed
            for line in mitigation_warnings(run.base, run.folder):
                log.warning(f"warning: {line}")
        evaluate(run.folder, progress=progress)
    for opts in run.evaluations:
        if not (run.folder / output_names("test", options_tag(opts))[1]).is_file():
            evaluate(run.folder, progress=progress, method_options=opts)
    for c in run.cross if cross and run.method != "postprocess" else ():  # group thresholds need the training groups
        cross_evaluate(run.folder, c, progress)
    return status


def ensure_generator(folder: Path, cfg: Any, progress: bool, threads: int | None = None) -> None:
    """Train (or finish) the experiment's generator unless it is done."""
    from ..generative.training import generator_done, train_generator

    if generator_done(folder, cfg):
        return
    cfg.progress = progress
    if threads is not None:
        cfg.threads = threads
    log.info(f"training the experiment's generator in {folder}")
    train_generator(cfg, folder)


def cross_evaluate(folder: Path, c: CrossSpec, progress: bool) -> str:
    """One ``[[cross]]`` evaluation of a finished run, unless done as the entry says or its
    data are absent; returns what a log line says of it."""
    source = c.manifest or c.root
    if source is not None and not Path(source).exists():
        log.info(f"skipping cross-dataset evaluation on {c.dataset}: {source} not found")
        return f"skipped: {source} not found"
    if c.done_in(folder):
        return f"already evaluated on {c.dataset}"
    if (folder / c.file()).is_file():
        log.info(f"{folder / c.file()} was made for another split, target or protected attribute: evaluating again")
    evaluate_on(folder, c.dataset, c.root, c.target, c.protected, c.positive, c.split,
                {"manifest": c.manifest} if c.manifest else None, c.name, progress=progress)
    return f"evaluated on {c.dataset} ({c.split})"
