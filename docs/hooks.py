"""MkDocs hooks: the pages made from the code at build time, never copied into docs/ (so they
cannot go stale): the API reference of ``facefair.__all__`` and the option tables of the
trainer and of every method."""

from __future__ import annotations

import dataclasses
import html
from typing import Any

from mkdocs.structure.files import File, Files

#: the API reference's sections: the comments of facefair/__init__.py's _LAZY table, in order
SECTIONS = {
    "facefair.config": "Configuration and run folders", "facefair.runfolder": "Configuration and run folders",
    "facefair.inference": "Using a trained run", "facefair.data": "Data",
    "facefair.models": "Models and methods", "facefair.methods": "Models and methods",
    "facefair.generative": "Models and methods", "facefair.trainer": "Training and mitigation",
    "facefair.mitigation": "Training and mitigation", "facefair.evaluation": "Using a trained run",
    "facefair.analysis": "Using a trained run", "facefair.explain": "Using a trained run",
    "facefair.report.html": "Using a trained run", "facefair.analysis.comparison": "Comparing, choosing, auditing",
    "facefair.selection": "Comparing, choosing, auditing", "facefair.auditing": "Comparing, choosing, auditing",
    "facefair.analysis.regions": "Using a trained run", "facefair.model_files": "Comparing, choosing, auditing",
    "facefair.report.model_card": "Comparing, choosing, auditing",
    "facefair.metrics": "Metrics (numpy only)", "facefair.experiments": "Experiments (the papers' tables)",
    "facefair.logs": "Messages and errors", "facefair.errors": "Messages and errors",
}


def api_page() -> str:
    """One mkdocstrings block per public name, under the module it lives in."""
    import facefair

    intro = ("Every name `import facefair as ff` offers (`facefair.__all__`), from its docstring. "
             "Each lives in the module named under it; `ff.NAME` imports that module on first use.")
    lines = ["# API reference", "", intro, ""]
    by_section: dict[str, list[str]] = {}
    for name in facefair.__all__:
        if name == "__version__":
            continue
        obj = getattr(facefair, name)
        # where it is defined (a package may re-export it lazily, which static analysis cannot follow)
        where = obj.__module__ if isinstance(obj, type) or callable(obj) else facefair._LAZY[name]
        by_section.setdefault(SECTIONS[facefair._LAZY[name]], []).append(f"{where}.{name}")
    for section, paths in by_section.items():
        lines += [f"## {section}", ""]
        for path in paths:
            lines += [f"::: {path}", "    options:", "      heading_level: 3", "      show_root_heading: true",
                      "      show_root_full_path: false", ""]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    """Words for a table cell (a pipe would end the cell)."""
    return html.escape("" if value is None else str(value)).replace("|", "&#124;").replace("\n", " ")


def _code(value: Any) -> str:
    """A value as code in a table cell; None (unset) as a dash."""
    return "&mdash;" if value is None else f"<code>{_cell(value)}</code>"


def options_page() -> str:
    """The trainer's options (TrainConfig) and each method's (its Options dataclass), with
    type, default and words, as the code declares them."""
    from facefair.cli.training import option_docs
    from facefair.config import TrainConfig
    from facefair.methods import registered

    intro = ("Generated from the code at build time. Training options are `facefair train` flags "
             "(`--max-train`), `--set` keys and experiment-file keys (`max_train`); method options "
             "are `--method-opt KEY=VALUE` and an experiment run's `options = { ... }`.")
    lines = ["# Options", "", intro, "",
             "## Training options (`TrainConfig`)", "",
             "| option | type | default | what it does | part of a run's identity |", "|---|---|---|---|---|"]
    for f in dataclasses.fields(TrainConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        lines.append(f"| `{f.name}` | {_code(f.type)} | {_code(default)} | {_cell(f.metadata.get('help'))} | "
                     f"{'no' if f.metadata.get('volatile') else 'yes'} |")
    for name, cls in sorted(registered().items()):
        labels = "uses protected labels" if cls.uses_protected else "no protected labels"
        lines += ["", f"## `{name}`", "", f"{cls.summary} ({labels}).", ""]
        fields = dataclasses.fields(cls.Options)
        if not fields:
            lines.append("No options.")
            continue
        words = option_docs(cls.Options)
        lines += ["| option | type | default | what it does |", "|---|---|---|---|"]
        for f in fields:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            lines.append(f"| `{f.name}` | {_code(f.type)} | {_code(default)} | {_cell(words.get(f.name, ''))} |")
    return "\n".join(lines) + "\n"


def on_files(files: Files, config: Any) -> Files:
    for path, make in (("reference/api.md", api_page), ("reference/options.md", options_page)):
        files.append(File.generated(config, path, content=make()))
    return files
