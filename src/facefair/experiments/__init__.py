"""``facefair experiment run NAME|FILE|all``: the experiments behind facefair's results, one
TOML file each in ``facefair/experiments/papers/`` (inside the package), run seed by seed, resumable, skipping what is done.

A config names a paper table, the task, the runs (each trained from scratch or fine-tuned
``from`` another run of the same seed), the seeds, and scales: ``cpu`` (what this project's
2-core machine runs from scratch, the scale docs/RESULTS.md states), ``pretrained`` (an
ImageNet-pretrained backbone fine-tuned on the same machine) and ``gpu`` (the paper's setting,
exactly). Options stack, later over earlier: TrainConfig defaults, the method's
``train_defaults``, the file's ``[train]``, ``[scale.<scale>]``, the run's ``train``, the run's
``<scale>`` table (its ``options`` table goes over the run's method ``options``), the
``grid`` value (e.g. each target attribute), the seed. Dataset roots are relative to the data
folder (``--data``, default ``$FACEFAIR_DATA`` or ``../shared/data``), never hard-coded.

Folders: ``OUT/<experiment>/<scale>/[<grid value>/]<run id>-s<seed>``. A run whose
``metrics.json`` exists and whose saved config equals the planned one is skipped; one cut
short resumes from its checkpoint; one whose saved config differs is an error (the file was
edited: use another ``--out``). Configs are compared by what they train: a fine-tune's
``init`` folder stands for its base's config, so a run is the same wherever its base lives.
A run not made yet whose config equals a finished run anywhere under ``OUT`` (another
table's baseline, say) is reused: its folder is copied by hard links, not retrained.

A ``[[run]]`` with ``choose`` trains nothing: per seed and grid value it is the one of its
``among`` runs (a hyperparameter sweep) that is best on the validation split by ``metric``,
among those whose validation accuracy is at most ``accuracy_within`` below its ``reference``
run's (the baseline's), or the most accurate on validation where none is. The test split never
takes part; the results name the run each seed chose.

``[[cross]]`` entries evaluate every run on another dataset as well (FineFACE Table 3:
train on FairFace, test on UTKFace, CelebA or a CSV manifest); a cross dataset whose folder
is absent under ``--data`` is skipped with a message.

The results (the paper's layout, mean over seeds; the headline metrics with mean ± sd and the
bootstrap interval; every metric mean ± sd) go to ``OUT/<experiment>/<scale>/results.md``, and
the evaluation documents they were computed from, one per run, to ``results.json`` beside it:
commit that file with the table, and any other aggregate (a mean over other attributes, a
pooled table over two partial runs) can be computed later without the run folders.
``--restore results.json`` fills the run folders not made yet from such an archive (same
experiment, scale and ``--set``; each run's config checked where the archive kept it), so a
table split over machines or sessions is finished without training its done rows again.

Executors: ``sequential`` (the default: one run after another in this process) or ``ray``
(``--executor ray``, the ``facefair[ray]`` extra): every step of the plan's dependency graph
(:mod:`.graph`: runs, the generator, cross evaluations, chosen rows) a Ray task whose inputs
are the steps it reads, on Ray started here or on a cluster (``--address``). Both make a step
the same way (:mod:`.execute`), hold the table with one driver lock and record each step's
state in the table folder (:mod:`.table`), which ``facefair experiment status`` reads
(:mod:`.status`).
"""

from __future__ import annotations

from .archive import archive, restore_archive
from .execute import execute, perform
from .identity import VOLATILE, find_same, identity, same_training
from .plan import Choice, PlannedRun, plan, run_ids
from .ray_executor import RaySettings
from .restored import RESTORED, read_restored, run_validation
from .results import rows, seed_units, write_results
from .runner import EXECUTORS, ExperimentFailed, experiment_status, run_experiment
from .spec import (
    SCALES,
    Choose,
    CrossSpec,
    Experiment,
    RunSpec,
    default_data_dir,
    experiment_dir,
    find_experiments,
    load_experiment,
    resolve,
)

__all__ = ["EXECUTORS", "RESTORED", "SCALES", "VOLATILE", "Choice", "Choose", "CrossSpec", "Experiment",
           "ExperimentFailed", "PlannedRun", "RaySettings", "RunSpec", "archive", "default_data_dir", "execute",
           "experiment_dir", "experiment_status", "find_experiments", "find_same", "identity",
           "load_experiment", "perform", "plan", "read_restored", "resolve", "restore_archive", "rows",
           "run_experiment", "run_ids", "run_validation", "same_training", "seed_units", "write_results"]

