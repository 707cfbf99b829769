"""The package's shape: no import cycle between modules, and one module naming the files of a
run folder (a renamed file then changes in one place)."""

from __future__ import annotations

import ast
from pathlib import Path

import facefair

ROOT = Path(facefair.__file__).parent


def _module(path: Path) -> str:
    return ".".join(("facefair", *path.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__")


def _imports() -> dict[str, set[str]]:
    """Module -> the facefair modules it imports when imported (top level, not TYPE_CHECKING)."""
    files = {_module(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.parse(path.read_text()).body:  # top level only: an `if TYPE_CHECKING:` is an If
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    deps.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in files else target)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def test_no_module_imports_itself_through_others() -> None:
    graph = _imports()
    assert graph["facefair.trainer"] and graph["facefair.methods.base"]  # the parse found imports

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m == goal:
                return True
            if m not in seen:
                seen.add(m)
                todo.extend(graph[m])
        return False

    cycles = sorted(m for m in graph if reaches(m, m))
    assert cycles == [], f"modules on an import cycle: {cycles}"
    assert not reaches("facefair.methods.base", "facefair.trainer")  # methods plug into the trainer, not back
    # the plan reads restored folders through restored.py, not through the archive that writes them
    assert not reaches("facefair.experiments.plan", "facefair.experiments.archive")
    # both executors make a step through execute.py, which knows no executor
    assert not reaches("facefair.experiments.execute", "facefair.experiments.ray_executor")


def test_only_the_run_folder_type_spells_run_folder_file_names() -> None:
    names = {"config.json", "metrics.json", "log.jsonl", "best.json", "best.pt", "last.pt", "regions.json",
             "MODEL_CARD.md"}
    spelled = sorted({str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py") for node in ast.walk(ast.parse(p.read_text()))
                      if isinstance(node, ast.Constant) and node.value in names})
    assert spelled == ["runfolder.py"], spelled  # (messages may mention them; paths are built in one place)
