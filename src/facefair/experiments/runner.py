"""Making a planned table: every run folder trained, resumed, reused from an identical finished
run, restored from an archive, or skipped as done (:mod:`.execute`), one after another in this
process (the default executor) or as Ray tasks over a cluster (:mod:`.ray_executor`); then the
tables."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..runfolder import RunFolder
from .archive import restore_archive
from .execute import perform
from .graph import describe, steps
from .identity import find_same
from .plan import PLAN_LIMIT, PlannedRun, plan
from .restored import finished
from .results import write_results
from .spec import Experiment, default_data_dir
from .table import TableFolder

log = logging.getLogger(__name__)

#: how a table's steps are run: in this process one after another, or as Ray tasks
EXECUTORS = ("sequential", "ray")


def run_experiment(exp: Experiment, out: str | Path, scale: str = "cpu", data: str | Path | None = None,
                   seeds: list[int] | None = None, dry_run: bool = False, progress: bool = True, only: dict[str, list[str]] | None = None,
                   sets: dict[str, Any] | None = None, runs: list[str] | None = None,
                   restore: list[str | Path] | None = None, yes: bool = False, executor: str = "sequential",
                   ray: Any = None) -> Path:
    """Run (or resume) every planned run, then write the results tables; returns their path.

    Parameters
    ----------
    exp
        a checked experiment (:func:`load_experiment`).
    out
        the output root; folders are ``out/<experiment>/<scale>/[<grid values>/]<run>-s<seed>``.
    scale
        ``cpu``, ``pretrained``, ``gpu`` or ``full`` (where the file has it).
    data
        the folder dataset roots are relative to (default ``$FACEFAIR_DATA`` or ``../shared/data``).
    seeds
        instead of the file's seeds.
    dry_run
        list the planned runs and what is done; train nothing.
    progress
        progress bars (on a terminal).
    only
        grid values to keep per key (``{"target": ["Smiling"]}``).
    sets
        trainer options over every run, checked by name and type (``{"bf16": False}``).
    runs
        the ``[[run]]`` ids to make, with the runs they need.
    restore
        results.json archives whose runs fill the folders not made yet.
    yes
        plan more runs than :data:`~facefair.experiments.plan.PLAN_LIMIT` without asking.
    executor
        ``sequential`` (in this process, one run after another) or ``ray`` (every step a
        Ray task, as many at once as the cluster's resources allow; needs ``facefair[ray]``).
    ray
        the Ray executor's settings (:class:`~facefair.experiments.ray_executor.RaySettings`:
        address, CPUs and GPUs per run); default: Ray started on this machine, 1 CPU a run
        (1 GPU a run at scale ``gpu``).
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    out = Path(out)
    data = Path(data) if data is not None else default_data_dir()
    if executor == "ray":  # workers may start elsewhere: every path they read is absolute
        from .ray_executor import RaySettings, require_ray

        ray = (ray or RaySettings()).resolved(scale)
        if not dry_run:
            require_ray(local=not ray.address)
        out, data = out.absolute(), data.absolute()
    planned = plan(exp, scale, out, data, seeds, only, sets, runs, limit=None if yes else PLAN_LIMIT)
    changed = f", with {', '.join(f'{k}={v}' for k, v in sets.items())} over the file" if sets else ""
    make = [p for p in planned if p.choice is None]  # a chosen row is made of these
    table = TableFolder(out / exp.name / scale)
    log.info(f"{exp.name} ({exp.paper}, scale {scale}{changed}): {len(make)} run(s) in {table.path}")
    if dry_run:
        from ..generative.training import generator_done

        gens = {p.generator[0]: p.generator[1] for p in make if p.generator is not None}
        for folder, gcfg in gens.items():
            log.info(f"  {folder}  generator  [{'done' if generator_done(folder, gcfg) else 'to train'}]")
        for p in make:
            log.info(f"  {p.folder}  {p.method}{f' from {p.base.name}' if p.base else ''}  [{_state(p, out)}]")
        if executor == "ray":
            log.info(f"as Ray tasks ({ray.describe()}), by dependency level:")
            for line in describe(steps(planned), table.path):
                log.info(line)
        return table.results
    failures: list[str] = []
    with table.claim_driver(executor):  # restores write run folders too: one driver at a time
        for archive_path in restore or []:
            restore_archive(exp, planned, archive_path, scale, sets)
        if executor == "ray":
            from .ray_executor import run_on_ray

            failures = run_on_ray(planned, table, ray, progress, pool=out)
        else:
            todo = [s for s in steps(planned, split_cross=False) if s.kind == "run"]  # picks: in the tables
            for i, step in enumerate(todo, start=1):
                status = perform(step, table, progress, pool=out)
                log.info(f"[{i}/{len(todo)}] {step.folder}: {status}")
        path = write_results(exp, planned, table.results, scale, sets)
    if failures:
        raise ExperimentFailed(failures, path)
    return path


class ExperimentFailed(ConfigError):
    """Runs of a table that failed on their own (and those that needed them); the others
    finished and the tables hold them."""

    def __init__(self, failures: list[str], results: Path) -> None:
        super().__init__(f"{len(failures)} step(s) of the table failed ({results} holds the others):\n"
                         + "\n".join(f"  {line}" for line in failures))
        self.failures = failures


def _state(p: PlannedRun, out: Path) -> str:
    """What a dry run says of a planned run: done, restored, reuse FOLDER or to run."""
    if (done := finished(p.folder)) is not None:
        return done
    if not RunFolder(p.folder).has_config():
        try:
            same = find_same(out, p.config(), p.folder)
        except ConfigError:  # a fine-tune whose base is not trained yet
            same = None
        if same is not None:
            return f"reuse {same}"
    return "to run"


def experiment_status(exp: Experiment, out: str | Path, scale: str = "cpu", data: str | Path | None = None,
                      seeds: list[int] | None = None, only: dict[str, list[str]] | None = None,
                      sets: dict[str, Any] | None = None, runs: list[str] | None = None) -> list[str]:
    """Where a table stands (``facefair experiment status``): a line per step, done, running
    (host, since, last epoch logged), failed (its error), stopped or to run; then its driver and
    the counts. Takes the options its ``run`` took (the plan decides the folders)."""
    from .status import status_lines

    out = Path(out)
    data = Path(data) if data is not None else default_data_dir()
    planned = plan(exp, scale, out, data, seeds, only, sets, runs, limit=None)
    table = TableFolder(out / exp.name / scale)
    return [f"{exp.name} ({exp.paper}, scale {scale}) in {table.path}:", *status_lines(planned, table)]
