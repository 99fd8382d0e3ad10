"""The rules every plugin is held to, and the error that names a broken one.

Each rule has a name (``RULES``); a broken rule raises ``ContractError`` with the plugin,
the rule, what happened and how to fix it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from typing import Any, Literal, get_args, get_origin

from ..contract.params import Plugin, coerce_params
from ..contract.sampler import PrivacyKind
from ..util.errors import ProxybenchError

#: rule name -> what it demands (docs/plugins.md lists them; a test holds the two together)
RULES = {
    "plugin-class": "a dataclass subclass of the right base, with a lowercase dash-separated name and a description",
    "typed-parameters": "every parameter is a typed dataclass field with a hashable, JSON-able default that the CLI can parse",
    "budget-exact": "select() returns a Selection of exactly `budget` indices",
    "unique-indices": "the indices are integers, unique, and inside 0..pool size - 1",
    "deterministic": "the same seed gives the same result (all randomness from the rng given; device noise is the runtime's)",
    "program-by-reference": "device programs are module-level functions of an importable module, "
                            "messages hold arrays and scalars",
    "privacy-declared": "a stage that called the device declares what it released: a DP event with its adjacency, "
                        "or non_private()",
    "kind-consistent": "the class's `kind` does not claim more privacy than what the run did",
    "link-only": "what the plugin learns of the device comes from the replies: the same replies give the same result",
    "audit-consistent": "the audit agrees with the declaration: noise really added, the worst neighbour within the sensitivity",
    "task-result": "run() returns a TaskResult whose metrics are JSON-able and hold an accuracy in [0, 1] scored on the device",
    "dataset-content": "load() gives ImageData whose labels, domains, splits, declared client domains and "
                       "training sizes agree",
}

NAME_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
KINDS: tuple[str, ...] = get_args(PrivacyKind)
#: what ``--param key=value`` can parse (contract/params.py), besides Literal choices and Optional
PARSEABLE = (int, float, bool, str)


class ContractError(ProxybenchError, AssertionError):
    """A plugin broke a rule of the contract: ``rule`` names it, the message says what happened and how to fix it."""

    def __init__(self, plugin: str, rule: str, problem: str, fix: str):
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; rules are {', '.join(RULES)}")
        self.plugin, self.rule, self.problem, self.fix = plugin, rule, problem, fix
        super().__init__(f"{plugin} breaks rule {rule!r} ({RULES[rule]}): {problem}\n  how to fix: {fix}")


def _parseable(tp: Any) -> bool:
    origin = get_origin(tp)
    if origin is Literal:
        return True
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return all(a is type(None) or _parseable(a) for a in get_args(tp))
    return tp in PARSEABLE


def check_class(cls: type, base: type[Plugin], what: str) -> str:
    """The rule ``plugin-class``; returns the label errors name the plugin by."""
    label = f"{what} {getattr(cls, '__qualname__', cls)!r}"
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ContractError(label, "plugin-class", f"{cls!r} is not a subclass of proxybench.{base.__name__}",
                            f"declare it as `@dataclass class My{base.__name__}({base.__name__}): ...`")
    if not dataclasses.is_dataclass(cls):
        raise ContractError(label, "plugin-class", "the class is not a dataclass, so its parameters cannot be read",
                            "decorate it with @dataclass (its fields are its parameters)")
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ContractError(label, "plugin-class", f"name {name!r} is not lowercase words joined by dashes",
                            'set `name: ClassVar[str] = "my-plugin"` (the name users type)')
    label = f"{what} {name!r}"
    if not getattr(cls, "description", ""):
        raise ContractError(label, "plugin-class", "the description is empty (it is what `proxybench list` shows)",
                            'set `description: ClassVar[str] = "one line: what it does and its privacy"`')
    return label


def make_plugin(cls: type[Plugin], label: str, params: dict[str, Any] | None) -> Plugin:
    """The rule ``typed-parameters``, then the plugin built as the registry builds it (parameters coerced)."""
    try:
        types = cls.param_types()
    except (NameError, TypeError) as exc:
        raise ContractError(label, "typed-parameters", f"the type hints cannot be resolved: {exc}",
                            "annotate every field with a type importable in its module (int, float, bool, str, "
                            "Literal[...] or Optional of those)") from exc
    defaults = cls.defaults()
    for name, tp in types.items():
        if not _parseable(tp):
            raise ContractError(label, "typed-parameters", f"parameter {name!r} has type {tp}, which --param cannot parse",
                                "use int, float, bool, str, Literal[...] choices, or `X | None` of those")
        if name not in defaults:
            raise ContractError(label, "typed-parameters", f"parameter {name!r} has no default",
                                f"give it one (`{name}: ... = value`), so `proxybench run` works without --param")
        value = defaults[name]
        try:
            hash(value)
            json.dumps(value, allow_nan=False)
            again = coerce_params(cls, {name: "none" if value is None else str(value).lower()
                                        if isinstance(value, bool) else str(value)})[name]
        except (TypeError, ValueError, ProxybenchError) as exc:
            raise ContractError(label, "typed-parameters", f"the default of {name!r} ({value!r}) is not a hashable, "
                                f"JSON-able value the command line can give back: {exc}",
                                "use a plain scalar default (a number, a string, a bool or None)") from exc
        if again != value and not (isinstance(value, float) and math.isclose(again, value)):
            raise ContractError(label, "typed-parameters", f"--param {name}={value} parses to {again!r}, not {value!r}",
                                f"make the default of {name!r} an instance of its declared type {tp}")
    try:
        return cls(**coerce_params(cls, params or {}))
    except ProxybenchError as exc:
        raise ContractError(label, "typed-parameters", f"the parameters {params or {}} are refused: {exc}",
                            "pass parameters the class declares, with values of their types") from exc
