"""A plan as a dependency graph of steps: the experiment's generator, each run (trained,
fine-tuned, post-processed: with its evaluations), each cross-dataset evaluation of a run, and
each chosen row. A step needs what it reads: a fine-tune its base, a generative row its
generator, a run whose options name another run (``"@<run id>"``) that run, a cross
evaluation its run, a chosen row the runs it chooses among. The sequential runner walks the
run steps in plan order; the Ray executor hands every step to Ray with these edges as task
dependencies; a dry run prints the levels (how many steps can go at once) and the critical
path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .plan import PlannedRun
from .spec import CrossSpec

KINDS = ("generator", "run", "cross", "choice")
#: how a dry run counts each kind
KIND_NAMES = {"generator": "generator", "run": "run", "cross": "cross evaluation", "choice": "chosen row"}


@dataclass(frozen=True)
class Step:
    """One unit of work. ``key`` names it uniquely (its folder; a cross evaluation adds
    ``#<file>``); ``needs`` are the keys of the steps it reads."""

    key: str
    kind: str
    folder: Path
    needs: tuple[str, ...] = ()
    run: PlannedRun | None = None
    cross: CrossSpec | None = None
    generator: Any = None  # the generator's config, for the generator step
    #: a run step that makes its cross evaluations itself (the sequential runner's steps)
    inline_cross: bool = False

    @property
    def trains(self) -> bool:
        """Whether the step takes a worker's resources (a chosen row only reads metrics)."""
        return self.kind != "choice"


def _key(folder: Path) -> str:
    return str(folder)


def steps(planned: list[PlannedRun], split_cross: bool = True) -> list[Step]:
    """The plan's steps in an order where every step comes after what it needs. With
    ``split_cross`` False a run's cross evaluations stay part of its step (the sequential
    runner's way); the generator is then trained by the first run that needs it."""
    by_folder = {_key(p.folder): p for p in planned}
    out: list[Step] = []
    gens: set[str] = set()
    for p in planned:
        if p.choice is not None:
            needs = [_key(q.folder) for q in p.choice.among]
            if p.choice.reference is not None:
                needs.append(_key(p.choice.reference.folder))
            out.append(Step(_key(p.folder), "choice", p.folder, tuple(dict.fromkeys(needs)), run=p))
            continue
        needs = []
        if p.generator is not None and split_cross:
            gkey = _key(p.generator[0])
            if gkey not in gens:
                gens.add(gkey)
                out.append(Step(gkey, "generator", p.generator[0], generator=p.generator[1]))
            needs.append(gkey)
        if p.base is not None:
            needs.append(_key(p.base))
        # options that name another planned run's folder ("@<run id>": a labeller, a classifier)
        needs += [_key(Path(v)) for v in p.options.values()
                  if isinstance(v, str) and v in by_folder and v != _key(p.folder)]
        out.append(Step(_key(p.folder), "run", p.folder, tuple(dict.fromkeys(needs)), run=p,
                        inline_cross=not split_cross))
        if split_cross and p.method != "postprocess":  # group thresholds need the training groups
            for c in p.cross:
                out.append(Step(f"{_key(p.folder)}#{c.file()}", "cross", p.folder, (_key(p.folder),), run=p, cross=c))
    known = {s.key for s in out}
    for s in out:  # a plan narrowed by --runs keeps what its runs need, so this holds
        assert set(s.needs) <= known, f"{s.key} needs {set(s.needs) - known}, which is not planned"
    return out


def levels(graph: list[Step]) -> list[list[Step]]:
    """The steps by level: level 0 needs nothing, level k needs something of level k-1 (so
    the steps of one level can all run at once)."""
    depth: dict[str, int] = {}
    for s in graph:  # in dependency order
        depth[s.key] = 1 + max((depth[n] for n in s.needs), default=-1)
    out: list[list[Step]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for s in graph:
        out[depth[s.key]].append(s)
    return out


def critical_path(graph: list[Step]) -> list[Step]:
    """The longest chain of steps that must run one after another (by count of steps that
    train; a chosen row adds none): no schedule finishes the table sooner than this chain."""
    by_key = {s.key: s for s in graph}
    length: dict[str, int] = {}
    prev: dict[str, str | None] = {}
    for s in graph:
        best = max(s.needs, key=lambda n: length[n], default=None)
        length[s.key] = (length[best] if best is not None else 0) + int(s.trains)
        prev[s.key] = best
    if not length:
        return []
    end: str | None = max(length, key=lambda k: length[k])
    chain = []
    while end is not None:
        chain.append(by_key[end])
        end = prev[end]
    return chain[::-1]


def describe(graph: list[Step], table: Path) -> list[str]:
    """A dry run's lines on the graph: each level's count by kind, and the critical path."""
    lines = []
    for i, level in enumerate(levels(graph)):
        counts = {k: sum(s.kind == k for s in level) for k in KINDS}
        what = ", ".join(f"{n} {KIND_NAMES[k]}{'s' if n > 1 else ''}" for k, n in counts.items() if n)
        runs = sum(s.trains for s in level)
        lines.append(f"  level {i}: {runs} step(s) can run at once ({what})")
    path = critical_path(graph)
    shown = " -> ".join(label(s, table) for s in path)
    lines.append(f"  critical path: {sum(s.trains for s in path)} step(s) one after another: {shown}")
    return lines


def label(s: Step, table: Path) -> str:
    """A step as messages name it: its folder below the table (and a cross evaluation's file)."""
    try:
        name = s.folder.relative_to(table).as_posix()
    except ValueError:
        name = str(s.folder)
    return f"{name} ({s.cross.file()})" if s.cross is not None else name
