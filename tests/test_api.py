"""The lazy Python API: every exported name is the function or class, even after submodule imports."""

from __future__ import annotations

import importlib

import facefair


def test_exports_are_not_shadowed_by_submodules() -> None:
    for mod in ("facefair.cli", "facefair.mitigation", "facefair.analysis", "facefair.ablation",
                "facefair.evaluation", "facefair.trainer", "facefair.metrics", "facefair.explain"):
        importlib.import_module(mod)
    for name in facefair.__all__:
        obj = getattr(facefair, name)
        assert not isinstance(obj, type(facefair)), f"facefair.{name} is a module"
    assert callable(facefair.mitigate) and callable(facefair.robustness) and callable(facefair.evaluate)
