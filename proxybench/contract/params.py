"""Typed plugin parameters.

Every plugin class is a dataclass whose fields are its parameters (scikit-learn style:
parameters in ``__init__``, work in a method). From the fields the CLI parses
``--param key=value``, specs hash canonically and reports show the values.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, ClassVar, Literal, get_args, get_origin

from ..util.errors import ProxybenchError, closest


class Plugin:
    """Base of every sampler, task, dataset and weight source: a named dataclass."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    @classmethod
    def param_fields(cls) -> dict[str, dataclasses.Field]:
        if not dataclasses.is_dataclass(cls):
            return {}
        return {f.name: f for f in dataclasses.fields(cls) if f.init}

    @classmethod
    def param_types(cls) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        return {name: hints[name] for name in cls.param_fields()}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        out = {}
        for name, f in cls.param_fields().items():
            if f.default is not dataclasses.MISSING:
                out[name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[name] = f.default_factory()
        return out

    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_fields()}


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        for a in args:
            try:
                return _coerce(value, a, where)
            except ProxybenchError:
                continue
        raise ProxybenchError(f"{where}: {value!r} fits none of {tp}")
    if origin is Literal:
        choices = get_args(tp)
        for c in choices:
            if value == c or (isinstance(value, str) and str(c) == value):
                return c
        raise ProxybenchError(f"{where}: {value!r} is not allowed; choose one of {', '.join(map(str, choices))}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ProxybenchError(f"{where}: {value!r} is not a boolean (use true or false)")
    if tp is int:
        if isinstance(value, bool):
            raise ProxybenchError(f"{where}: {value!r} is not an integer")
        if isinstance(value, int):
            return value
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise ProxybenchError(f"{where}: {value!r} is not an integer") from None
        if not as_float.is_integer():
            raise ProxybenchError(f"{where}: {value!r} is not an integer")
        return int(as_float)
    if tp is float:
        if isinstance(value, bool):
            raise ProxybenchError(f"{where}: {value!r} is not a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ProxybenchError(f"{where}: {value!r} is not a number") from None
    if tp is str:
        if not isinstance(value, str):
            raise ProxybenchError(f"{where}: {value!r} is not a string")
        return value
    return value


def coerce_params(cls: type[Plugin], params: dict[str, Any]) -> dict[str, Any]:
    """Check names and types of user-given parameters against the plugin's fields."""
    types = cls.param_types()
    out = {}
    for key, value in params.items():
        if key not in types:
            known = ", ".join(sorted(types)) or "(none)"
            hint = closest(key, types)
            raise ProxybenchError(
                f"unknown parameter {key!r} for {cls.name!r}{hint}; its parameters are: {known}"
            )
        out[key] = _coerce(value, types[key], f"parameter {cls.name}.{key}")
    return out


def format_value(value: Any) -> str:
    """A parameter value as a person writes it: 7.0710678118654755 -> 7.071, 0.003, 1e-05, 100.0, street."""
    if isinstance(value, float) and not isinstance(value, bool) and math.isfinite(value):
        text = f"{value:.4g}" if abs(value) < 1e4 else f"{value:.6g}"
        return text if any(c in text for c in ".e") else f"{text}.0"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value)


def type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "|".join(map(str, get_args(tp)))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def param_lines(cls: type[Plugin]) -> list[tuple[str, str]]:
    """(``name: type = default``, what it means) per parameter; the meaning is the field's ``metadata["help"]`` or ""."""
    fields = cls.param_fields()
    defaults = cls.defaults()
    return [(f"{name}: {type_name(tp)} = {format_value(defaults.get(name))}", str(fields[name].metadata.get("help", "")))
            for name, tp in cls.param_types().items()]


def describe_params(cls: type[Plugin]) -> str:
    return "; ".join(signature for signature, _ in param_lines(cls))


def split_param(item: str) -> tuple[str, str, str]:
    """``[owner.]key=value`` from the command line -> (owner or "", key, value)."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ProxybenchError(f"--param expects key=value, got {item!r}")
    owner, dot, bare = key.partition(".")
    return (owner, bare, value) if dot else ("", key, value)
