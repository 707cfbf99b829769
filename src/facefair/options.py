"""Typed options: one reader of ``KEY=VALUE`` text and one type check for every option.

Trainer options (:class:`facefair.config.TrainConfig`) and each method's options
(:class:`facefair.methods.base.MethodOptions`) are dataclasses whose annotations are the one
declaration of their types. Values reach them from four places (CLI flags, ``--set``,
``--method-opt``/``--data-opt``/``--vary`` text, TOML experiment files, the Python API) and
all of them go through :func:`coerce`, so ``--set bf16=yes`` and ``epochs = 3.5`` fail with the
option's name instead of training something else than asked.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Iterable
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_value(raw: str) -> Any:
    """Text as a TOML value (``false``, ``3``, ``0.01``, ``"x"``, ``[1, 2]``); anything that
    is not TOML (a bare word, ``0,0.01``) stays the text it is."""
    raw = raw.strip()
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def split_kv(item: str, flag: str) -> tuple[str, str]:
    """``KEY=VALUE`` -> (key with ``-`` as ``_``, the value's text); a clear error otherwise."""
    key, eq, raw = item.partition("=")
    if not eq or not key.strip() or not raw.strip():
        raise ConfigError(f"{flag} takes KEY=VALUE, got {item!r}")
    return key.strip().replace("-", "_"), raw.strip()


def parse_kv(items: Iterable[str] | None, flag: str) -> dict[str, Any]:
    """Every ``KEY=VALUE`` of a repeatable flag, values read by :func:`read_value`; the one
    parser behind ``--set``, ``--method-opt`` and ``--data-opt``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, raw = split_kv(item, flag)
        out[key] = read_value(raw)
    return out


def declared_types(cls: type) -> dict[str, Any]:
    """Field name -> its annotation, resolved (the modules use postponed annotations)."""
    return typing.get_type_hints(cls)


def _describe(kind: Any) -> str:
    args = typing.get_args(kind)
    if _is_union(kind):
        return " or ".join("none" if a is type(None) else _describe(a) for a in args)
    origin = typing.get_origin(kind)
    if origin in (tuple, list):
        return f"a list ({_describe(args[0])} each)" if args else "a list"
    if origin is dict or kind is dict:
        return "a table"
    return {bool: "true or false", int: "an integer", float: "a number", str: "text"}.get(kind, str(kind))


def _is_union(kind: Any) -> bool:
    return typing.get_origin(kind) in (typing.Union, types.UnionType)


def coerce(value: Any, kind: Any, name: str) -> Any:
    """``value`` as the declared type ``kind``, or a ConfigError naming the option. Text is
    read (``"3"`` -> 3, ``"true"`` -> True, ``"0,0.01"`` -> (0.0, 0.01)); an int is a float;
    nothing else is converted: a float is not an int, text is not a bool."""
    if kind is Any:
        return value
    if _is_union(kind):
        args = typing.get_args(kind)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, name)
            except ConfigError:
                continue
        raise ConfigError(f"option {name} must be {_describe(kind)}, got {value!r}")
    origin = typing.get_origin(kind)
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [read_value(v) for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"option {name} must be {_describe(kind)}, got {value!r}")
        item = typing.get_args(kind)[0] if typing.get_args(kind) else Any
        return origin(coerce(v, item, name) for v in value)
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"option {name} must be {_describe(kind)}, got {value!r}")
        return dict(value)
    if isinstance(value, str) and kind is not str:
        value = read_value(value)
    ok = (isinstance(value, bool) if kind is bool
          else isinstance(value, int) and not isinstance(value, bool) if kind is int
          else isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float
          else isinstance(value, kind))
    if not ok:
        raise ConfigError(f"option {name} must be {_describe(kind)}, got {value!r}")
    return float(value) if kind is float else value


def check_options(cls: type, options: dict[str, Any], where: str, what: str = "training option") -> dict[str, Any]:
    """``options`` checked by name and type against the dataclass ``cls``: a copy with every
    value coerced; an unknown name is an error that lists the known ones."""
    known = declared_types(cls)
    out = {}
    for key, value in options.items():
        if key not in known:
            raise ConfigError(f"unknown {what} '{key}'" + (f" in {where}" if where else "")
                              + f" (known: {', '.join(sorted(known))})")
        try:
            out[key] = coerce(value, known[key], key)
        except ConfigError as e:
            raise ConfigError(f"{e}" + (f" in {where}" if where else "")) from None
    return out
