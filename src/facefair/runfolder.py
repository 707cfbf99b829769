"""A run folder: the one place that names its files (config, log, metrics, checkpoints) and
reads its JSON back. No torch here: the report and table commands read run folders on
machines without it (:func:`facefair.inference.load_run` rebuilds a trained model)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import json_safe, write_json, write_text
from .config import TrainConfig
from .errors import ConfigError, DataError
from .locks import exclusive


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder, by name; nothing else spells them."""

    path: Path

    CONFIG = "config.json"
    LOG = "log.jsonl"
    BEST = "best.json"
    METRICS = "metrics.json"
    CHECKPOINTS = "checkpoints"
    LOCK = ".facefair.lock"
    #: what a run folder rebuilt from an experiment's archive keeps of it (no config, no log)
    RESTORED = "restored.json"
    #: what an audit of a foreign model records in place of a config (facefair audit)
    AUDIT = "audit.json"
    #: the task's names (target, protected, class and group names): what the trained model
    #: needs of its data, so the run is scored on another dataset without the training data
    TASK = "task.json"
    #: region shares per group (``facefair regions``, ``audit --regions``): a folder holding this
    #: document and its picture
    REGIONS = "regions"
    REGIONS_DOC = "regions.json"
    #: the model card an audit writes
    MODEL_CARD = "MODEL_CARD.md"

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def config_file(self) -> Path:
        return self.path / self.CONFIG

    @property
    def log_file(self) -> Path:
        return self.path / self.LOG

    @property
    def best_file(self) -> Path:
        return self.path / self.BEST

    @property
    def task_file(self) -> Path:
        return self.path / self.TASK

    def write_task(self, task: Any) -> None:
        """Keep the task's names (a :class:`facefair.data.Task`'s) beside the config."""
        write_json(self.task_file, {"dataset": task.data.name, "target": task.target, "protected": task.protected,
                                    "y_classes": list(task.y_classes), "group_classes": list(task.group_classes)})

    def task_names(self) -> dict[str, Any] | None:
        """What :meth:`write_task` kept, or None for a run folder made before facefair kept it."""
        if not self.task_file.is_file():
            return None
        try:
            names = json.loads(self.task_file.read_text())
            if not isinstance(names, dict) or not all(isinstance(names.get(k), list) for k in ("y_classes", "group_classes")):
                raise ValueError("no y_classes and group_classes lists")
        except ValueError as e:
            raise DataError(f"not a task record ({e}); remove the file, and the run reads the names from its "
                            "training data again", self.task_file) from None
        return names

    @property
    def audit_file(self) -> Path:
        return self.path / self.AUDIT

    @property
    def regions_dir(self) -> Path:
        return self.path / self.REGIONS

    @property
    def regions_file(self) -> Path:
        return self.regions_dir / self.REGIONS_DOC

    @property
    def metrics_file(self) -> Path:
        return self.path / self.METRICS

    def checkpoint(self, which: str = "best") -> Path:
        """``best`` (the selected epoch's weights) or ``last`` (the resumable state)."""
        return self.path / self.CHECKPOINTS / f"{which}.pt"

    def foreign_files(self) -> list[str]:
        """What the folder holds besides a facefair run's files (empty for a new folder or a run)."""
        if not self.path.is_dir() or self.has_config():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.name != self.LOCK and not p.name.endswith(".tmp"))

    @contextlib.contextmanager
    def claim(self, use_existing: bool = False) -> Iterator[None]:
        """Hold the folder for one process while it trains: a folder holding files that are not
        a facefair run is refused unless ``use_existing`` (the user said so), and a second
        process on the same folder is refused while the first runs. A start that fails before
        writing anything leaves no folder behind."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.path}: exists and is not a folder; choose another --out")
        foreign = self.foreign_files()
        if foreign and not use_existing:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise ConfigError(f"{self.path} holds files that are not a facefair run ({shown}); choose another "
                              "--out, or pass --use-existing-folder to write the run into it")
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            with exclusive(self.path / self.LOCK, lambda: f"{self.path}: another facefair process is using this "
                                                          "run folder; wait for it to end or choose another --out"):
                yield
        finally:
            if created and [p.name for p in self.path.iterdir()] == [self.LOCK]:
                (self.path / self.LOCK).unlink(missing_ok=True)  # nothing was made: leave nothing
                with contextlib.suppress(OSError):
                    self.path.rmdir()

    def has_config(self) -> bool:
        return self.config_file.is_file()

    def is_evaluated(self) -> bool:
        return self.metrics_file.is_file()

    def config(self) -> TrainConfig:
        return TrainConfig.load(self.config_file)

    def write_log(self, history: list[dict[str, Any]], best: dict[str, Any]) -> None:
        """``log.jsonl`` (one row an epoch) and ``best.json`` (the selected epoch), atomically:
        what :func:`best_validation` reads back."""
        write_text(self.log_file, "".join(json.dumps(json_safe(r)) + "\n" for r in history))
        write_json(self.best_file, json_safe(best))

    def seed(self) -> int | None:
        """The training seed: the config's, or for a restored folder its archived identity's."""
        for name, keys in ((self.CONFIG, ("seed",)), (self.RESTORED, ("seed",)), (self.RESTORED, ("identity", "seed"))):
            try:
                value: Any = json.loads((self.path / name).read_text())
                for k in keys:
                    value = value[k]
                return int(value)
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return None

def validation_fields(overall: dict[str, Any], y: Any) -> dict[str, Any]:
    """A log row's validation columns: every metric as ``val_<name>``, and the share of
    positives (``val_base_rate``: how accurate answering one class to everyone is, which a
    validation choice compares its accuracy window with, and a collapse check reads)."""
    return {**{f"val_{k}": v for k, v in overall.items()}, "val_base_rate": float((y == 1).mean())}


def read_log(out: str | Path) -> tuple[list[dict[str, Any]], Any]:
    """A run's ``log.jsonl`` rows (one an epoch) and ``best.json``'s selected epoch, as
    :meth:`RunFolder.write_log` wrote them; a DataError names the file (and line) that does not read."""
    out = Path(out)
    try:
        epoch = json.loads((out / RunFolder.BEST).read_text())["epoch"]
        lines = (out / RunFolder.LOG).read_text().splitlines()
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{out}: no readable best.json and log.jsonl ({e})") from None
    rows = []
    for i, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except ValueError:
            raise DataError(f"{out / RunFolder.LOG}, line {i}: not JSON") from None
    return rows, epoch


def best_validation(out: str | Path) -> dict[str, Any]:
    """The validation metrics of a run's selected epoch (``best.json``'s, read from
    ``log.jsonl``): what a choice between runs may look at, since the test split may not be."""
    rows, epoch = read_log(out)
    for row in rows:
        if row.get("epoch") == epoch:
            return {k[4:]: v for k, v in row.items() if k.startswith("val_")}
    raise DataError(f"{Path(out) / RunFolder.LOG}: no line for the selected epoch {epoch} of best.json")


def training_record(out: str | Path) -> dict[str, Any]:
    """How a run trained, from its log (:func:`read_log`): epochs run, the selected one,
    training seconds and the machines its epochs ran on (logged since runs record it; a run
    resumed elsewhere lists both). Empty where the folder has no readable log (a restored one)."""
    try:
        rows, best = read_log(out)
    except DataError:
        return {}
    machines = list(dict.fromkeys(r["machine"] for r in rows if r.get("machine")))
    return {"epochs": len(rows), "best_epoch": best,
            "train_seconds": round(sum(float(r.get("train_seconds", 0.0)) for r in rows), 1),
            "machines": machines}
