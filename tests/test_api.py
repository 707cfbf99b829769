"""The lazy Python API: every exported name is the function or class, even after submodule imports."""

from __future__ import annotations

import importlib

import facefair


def test_exports_are_not_shadowed_by_submodules() -> None:
    for mod in ("facefair.cli", "facefair.mitigation", "facefair.analysis", "facefair.experiments",
                "facefair.evaluation", "facefair.trainer", "facefair.metrics", "facefair.explain"):
        importlib.import_module(mod)
    for name in facefair.__all__:
        obj = getattr(facefair, name)
        assert not isinstance(obj, type(facefair)), f"facefair.{name} is a module"
    assert callable(facefair.mitigate) and callable(facefair.robustness) and callable(facefair.evaluate)


def test_dir_shows_the_curated_names_and_each_resolves() -> None:
    names = dir(facefair)
    assert set(facefair.__all__) <= set(names) and "import_module" not in names and "_LAZY" not in names
    for name in facefair.__all__:
        assert getattr(facefair, name) is not None, name
    assert facefair.load_run.__module__ == "facefair.inference"  # from its home, not a re-import


def _parameter_entries(doc: str) -> list[str]:
    """The entries of a numpy-style ``Parameters`` section (``name`` or ``name : type`` at the
    section's indentation, the words indented below): what the documentation site renders."""
    lines = doc.splitlines()
    entries: list[str] = []
    for i, line in enumerate(lines[:-1]):
        if line.strip() == "Parameters" and set(lines[i + 1].strip()) == {"-"}:
            for entry in lines[i + 2:]:
                if not entry.strip() or set(entry.strip()) == {"-"}:
                    break
                if not entry.startswith(" "):
                    entries.append(entry)
    return entries


def test_every_public_function_documents_each_parameter() -> None:
    import inspect

    missing, misread = [], []
    for name in facefair.__all__:
        obj = getattr(facefair, name)
        if not inspect.isfunction(obj):
            continue
        doc = inspect.getdoc(obj) or ""
        entries = _parameter_entries(doc)
        documented = {e.split(" : ")[0].strip().lstrip("*") for e in entries}
        # "name: words" on one line is no numpy entry: the site would read the words as a type
        misread += [f"{name}: {e}" for e in entries if ": " in e and " : " not in e]
        for p in inspect.signature(obj).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.name not in documented and f"``{p.name}``" not in doc:
                missing.append(f"{name}({p.name})")
    assert not missing, f"parameters without a word in their function's docstring: {missing}"
    assert not misread, f"Parameters entries the documentation site misreads: {misread}"


def test_every_method_option_is_documented() -> None:
    import dataclasses
    import inspect

    from facefair.methods import registered

    missing = []
    for name, cls in registered().items():
        docs = " ".join(inspect.getdoc(k) or "" for k in cls.Options.__mro__ if k.__module__.startswith("facefair"))
        missing += [f"{name}.{f.name}" for f in dataclasses.fields(cls.Options) if f"{f.name}:" not in docs]
    assert not missing, f"method options without a word in their Options docstring: {missing}"
