"""Making the planned run folders: each trained, resumed, reused from an identical finished
run, restored from an archive, or skipped as done; then its evaluations and the tables."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..evaluation import evaluate, evaluate_on, options_tag, output_names
from ..mitigation import mitigation_warnings, postprocess
from ..runfolder import RunFolder
from ..trainer import train
from .archive import read_restored, restore_archive
from .identity import find_same, identity, link_copy
from .plan import PLAN_LIMIT, PlannedRun, plan
from .results import write_results
from .spec import CrossSpec, Experiment, default_data_dir

log = logging.getLogger(__name__)


def execute(run: PlannedRun, progress: bool, pool: Path | None = None) -> str:
    """Make one run folder: 'restored', 'done' (skipped), 'reused', 'resumed' or 'trained';
    then its evaluations. ``pool`` is where finished runs may be reused from."""
    if read_restored(run.folder) is not None and RunFolder(run.folder).is_evaluated():
        return "restored"  # its evaluations are the archive's (and a restored base has no config to plan from)
    if run.generator is not None and not RunFolder(run.folder).is_evaluated():
        ensure_generator(*run.generator, progress=progress)
    cfg = run.config()
    cfg.progress = progress
    folder = RunFolder(run.folder)
    status = "trained"
    if folder.has_config():
        if identity(folder.config()) != identity(cfg):
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
    for c in run.cross if run.method != "postprocess" else ():  # group thresholds need the training groups
        cross_evaluate(run.folder, c, progress)
    return status


def ensure_generator(folder: Path, cfg: Any, progress: bool) -> None:
    """Train (or finish) the experiment's generator unless it is done."""
    from ..generative.training import generator_done, train_generator

    if generator_done(folder, cfg):
        return
    cfg.progress = progress
    log.info(f"training the experiment's generator in {folder}")
    train_generator(cfg, folder)


def cross_evaluate(folder: Path, c: CrossSpec, progress: bool) -> None:
    """One ``[[cross]]`` evaluation of a finished run, unless done or its data are absent."""
    source = c.manifest or c.root
    if source is not None and not Path(source).exists():
        log.info(f"skipping cross-dataset evaluation on {c.dataset}: {source} not found")
        return
    if (folder / c.file()).is_file():
        return
    evaluate_on(folder, c.dataset, c.root, c.target, c.protected, c.positive, c.split,
                {"manifest": c.manifest} if c.manifest else None, c.name, progress=progress)


def run_experiment(exp: Experiment, out: str | Path, scale: str = "cpu", data: str | Path | None = None,
                   seeds: list[int] | None = None, dry_run: bool = False, progress: bool = True, only: dict[str, list[str]] | None = None,
                   sets: dict[str, Any] | None = None, runs: list[str] | None = None,
                   restore: list[str | Path] | None = None, yes: bool = False) -> Path:
    """Run (or resume) every planned run, then write the results tables; returns their path.

    Parameters
    ----------
    exp: a checked experiment (:func:`load_experiment`).
    out: the output root; folders are ``out/<experiment>/<scale>/[<grid values>/]<run>-s<seed>``.
    scale: ``cpu``, ``pretrained`` or ``gpu``.
    data: the folder dataset roots are relative to (default ``$FACEFAIR_DATA`` or ``../shared/data``).
    seeds: instead of the file's seeds.
    dry_run: list the planned runs and what is done; train nothing.
    progress: progress bars (on a terminal).
    only: grid values to keep per key (``{"target": ["Smiling"]}``).
    sets: trainer options over every run, checked by name and type (``{"bf16": False}``).
    runs: the ``[[run]]`` ids to make, with the runs they need.
    restore: results.json archives whose runs fill the folders not made yet.
    yes: plan more runs than :data:`~facefair.experiments.plan.PLAN_LIMIT` without asking.
    """
    out = Path(out)
    data = Path(data) if data is not None else default_data_dir()
    planned = plan(exp, scale, out, data, seeds, only, sets, runs, limit=None if yes else PLAN_LIMIT)
    if not dry_run:
        for archive_path in restore or []:
            restore_archive(exp, planned, archive_path, scale, sets)
    changed = f", with {', '.join(f'{k}={v}' for k, v in sets.items())} over the file" if sets else ""
    make = [p for p in planned if p.choice is None]  # a chosen row is made of these
    log.info(f"{exp.name} ({exp.paper}, scale {scale}{changed}): {len(make)} run(s) in {out / exp.name / scale}")
    if dry_run:
        from ..generative.training import generator_done

        gens = {p.generator[0]: p.generator[1] for p in make if p.generator is not None}
        for folder, gcfg in gens.items():
            log.info(f"  {folder}  generator  [{'done' if generator_done(folder, gcfg) else 'to train'}]")
        for p in make:
            log.info(f"  {p.folder}  {p.method}{f' from {p.base.name}' if p.base else ''}  [{_state(p, out)}]")
        return out / exp.name / scale / "results.md"
    for i, p in enumerate(make, start=1):
        status = execute(p, progress, pool=out)
        log.info(f"[{i}/{len(make)}] {p.folder}: {status}")
    return write_results(exp, planned, out / exp.name / scale / "results.md", scale, sets)


def _state(p: PlannedRun, out: Path) -> str:
    """What a dry run says of a planned run: done, restored, reuse FOLDER or to run."""
    if RunFolder(p.folder).is_evaluated():
        return "restored" if read_restored(p.folder) is not None else "done"
    if not RunFolder(p.folder).has_config():
        try:
            same = find_same(out, p.config(), p.folder)
        except ConfigError:  # a fine-tune whose base is not trained yet
            same = None
        if same is not None:
            return f"reuse {same}"
    return "to run"
