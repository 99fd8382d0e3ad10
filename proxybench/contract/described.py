"""Third-party samplers and tasks as the harness knows them: descriptions, and stand-in classes built from them.

The harness holds every row and the ground truth, so it never imports a third party's
sampler or task module (``contract.describe`` does, in a confined process of its own). What
the harness needs of such a plugin (its name, parameters with their types and defaults, its
class-level declarations) crosses as a ``PluginDescription``; ``stand_in`` turns it back into
a dataclass of the right base that parses and reports parameters like the real class, and
refuses to run: only the cloud process imports the real one.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from ..util.errors import ProxybenchError
from .params import Plugin

#: parameter types a plugin may declare (testing's ``typed-parameters`` rule), by name
SCALARS: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}
#: the methods that run a plugin's own code; a stand-in refuses them
RUNS_CODE = ("select", "run", "validate")


@dataclass(frozen=True)
class ParamDescription:
    """One parameter: a scalar type, or a choice of values, optionally None; its default and meaning."""

    name: str
    type: str  # a key of SCALARS, or "choice"
    default: Any
    choices: tuple = ()
    optional: bool = False
    help: str = ""

    def annotation(self) -> Any:
        tp: Any = Literal[self.choices] if self.type == "choice" else SCALARS[self.type]
        return tp | None if self.optional else tp

    @classmethod
    def of(cls, name: str, tp: Any, default: Any, help: str) -> ParamDescription:
        optional = False
        if get_origin(tp) is typing.Union or str(get_origin(tp)) == "<class 'types.UnionType'>":
            args = [a for a in get_args(tp) if a is not type(None)]
            optional, tp = True, args[0] if len(args) == 1 else tp
        if get_origin(tp) is Literal:
            return cls(name, "choice", default, tuple(get_args(tp)), optional, help)
        kind = next((k for k, v in SCALARS.items() if v is tp), None)
        if kind is None:
            raise ProxybenchError(f"parameter {name!r} has type {tp}, which --param cannot parse "
                                  "(use int, float, bool, str, Literal[...] or X | None)")
        return cls(name, kind, default, (), optional, help)


@dataclass(frozen=True)
class PluginDescription:
    """What the harness may know of a third-party sampler or task, as the describing process read it."""

    kind: str  # "sampler" or "task"
    name: str
    provider: str  # "entry point (distribution)"
    description: str = ""
    declarations: dict[str, Any] = field(default_factory=dict)  # class-level values of the base's ClassVars
    params: tuple[ParamDescription, ...] = ()

    def to_message(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "params": [dataclasses.asdict(p) for p in self.params]}

    @classmethod
    def from_message(cls, msg: dict[str, Any]) -> PluginDescription:
        params = tuple(ParamDescription(**{**p, "choices": tuple(p["choices"])}) for p in msg["params"])
        return cls(**{**msg, "params": params})


def declarations(cls: type, base: type) -> dict[str, Any]:
    """The class-level values of every ClassVar the base declares (besides name and description)."""
    out = {}
    for klass in reversed(base.__mro__):
        for attr, hint in vars(klass).get("__annotations__", {}).items():
            if "ClassVar" in str(hint) and attr not in ("name", "description"):
                value = getattr(cls, attr)
                if isinstance(value, (str, int, float, bool, type(None))):
                    out[attr] = value
    return out


def describe(cls: type[Plugin], kind: str, provider: str, base: type) -> PluginDescription:
    """Read a plugin class as the harness may know it (in the describing process, where it was imported)."""
    fields = cls.param_fields()
    defaults = cls.defaults()
    params = tuple(ParamDescription.of(name, tp, defaults.get(name), str(fields[name].metadata.get("help", "")))
                   for name, tp in cls.param_types().items())
    return PluginDescription(kind, cls.name, provider, cls.description, declarations(cls, base), params)


def _refuse(self, *args, **kwargs):
    raise ProxybenchError(f"{self.name!r} is a third-party plugin: its code runs only in the cloud process, "
                          "never in the harness that holds the device's data")


def stand_in(desc: PluginDescription, base: type[Plugin]) -> type[Plugin]:
    """A dataclass of the kind's base with the described fields and declarations, whose code-running methods refuse.

    Parameters are parsed and reported as the real class would; checks in the real class's own
    code (``__post_init__``) run when the cloud builds it.
    """
    fields = [(p.name, p.annotation(), dataclasses.field(default=p.default, metadata={"help": p.help}))
              for p in desc.params]
    namespace: dict[str, Any] = {"name": desc.name, "description": desc.description, "__doc__": desc.description,
                                 "described": desc, **desc.declarations,
                                 **{m: _refuse for m in RUNS_CODE if hasattr(base, m)}}
    cls = dataclasses.make_dataclass(f"Described_{desc.name.replace('-', '_')}", fields, bases=(base,),
                                     namespace=namespace)
    cls.__module__ = __name__
    return cls
