"""The plugin manager: built-ins and third-party plugins, loaded the same way.

(Named ``registry``: the name ``proxybench.plugins`` belongs to the built-ins package.)

Every distribution that declares entry points in the ``proxybench`` group is loaded
one entry point at a time. A plugin that fails to import or register is reported and
skipped (``PROXYBENCH_STRICT_PLUGINS=1`` makes that fatal), so one broken plugin
never takes the command down. Names are the public API, so two providers of one
name is an error that names both.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from ..util.errors import ProxybenchError, unknown_name
from . import hookspecs
from .params import Plugin, coerce_params

ENTRY_POINT_GROUP = "proxybench"

#: plugin kind -> the hook that provides it
KINDS = {
    "sampler": "proxybench_samplers",
    "task": "proxybench_tasks",
    "dataset": "proxybench_datasets",
    "weights": "proxybench_weights",
}


@dataclass
class LoadedPlugin:
    """One registered plugin module and where it came from."""

    name: str
    distribution: str
    version: str
    provides: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class PluginFailure:
    name: str
    distribution: str
    error: str


def _strict() -> bool:
    return os.environ.get("PROXYBENCH_STRICT_PLUGINS", "").strip() not in ("", "0", "false", "no")


class Registry:
    """A pluggy manager plus the name -> class tables built from its hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("proxybench")
        self.pm.add_hookspecs(hookspecs)
        self.loaded: list[LoadedPlugin] = []
        self.failures: list[PluginFailure] = []
        self._tables: dict[str, dict[str, tuple[type[Plugin], str]]] = {}

    def load_entry_points(self) -> None:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            self._load_one(ep)

    def _load_one(self, ep: EntryPoint) -> None:
        dist = ep.dist.name if ep.dist is not None else "?"
        version = ep.dist.version if ep.dist is not None else "?"
        try:
            module = ep.load()
            self.register(module, name=ep.name, distribution=dist, version=version)
        except ProxybenchError:
            raise
        except Exception as exc:  # a broken third-party plugin must not break the tool
            if _strict():
                raise ProxybenchError(f"plugin {ep.name!r} from {dist} failed to load: {exc!r}") from exc
            self.failures.append(PluginFailure(ep.name, dist, f"{type(exc).__name__}: {exc}"))
            print(f"proxybench: skipping plugin {ep.name!r} ({dist}): {type(exc).__name__}: {exc}", file=sys.stderr)

    def register(
        self, module: ModuleType | object, name: str, distribution: str = "(local)", version: str = ""
    ) -> None:
        """Register a plugin object (usually a module with hookimpls) and index what it provides."""
        self.pm.register(module, name=name)
        try:
            provides = {}
            for kind, hook in KINDS.items():
                impl = getattr(module, hook, None)
                classes = list(impl() or []) if impl is not None else []
                for cls in classes:
                    self._add(kind, cls, f"{name} ({distribution})")
                if classes:
                    provides[kind] = [c.name for c in classes]
        except BaseException:
            self.pm.unregister(name=name)
            for table in self._tables.values():
                for key in [k for k, (_, prov) in table.items() if prov == f"{name} ({distribution})"]:
                    del table[key]
            raise
        self.loaded.append(LoadedPlugin(name, distribution, version, provides))

    def local_modules(self) -> list[str]:
        """Modules registered by hand (not through entry points): the cloud process registers them too."""
        plugins = [self.pm.get_plugin(p.name) for p in self.loaded if p.distribution == "(local)"]
        return [p.__name__ for p in plugins if isinstance(p, ModuleType)]

    def register_module(self, name: str) -> None:
        """Import and register a plugin module by name, once (how a child process gets the harness's local plugins)."""
        module = importlib.import_module(name)
        if not self.pm.is_registered(module):
            self.register(module, name=name)

    def _add(self, kind: str, cls: type[Plugin], provider: str) -> None:
        if not getattr(cls, "name", ""):
            raise TypeError(f"{provider} offers a {kind} class {cls.__qualname__} without a name")
        table = self._tables.setdefault(kind, {})
        if cls.name in table:
            raise ProxybenchError(
                f"duplicate {kind} name {cls.name!r}: provided by {table[cls.name][1]} and by {provider}"
            )
        table[cls.name] = (cls, provider)

    def names(self, kind: str) -> list[str]:
        return sorted(self._tables.get(kind, {}))

    def get(self, kind: str, name: str) -> type[Plugin]:
        table = self._tables.get(kind, {})
        if name not in table:
            raise unknown_name(kind, name, table)
        return table[name][0]

    def create(self, kind: str, name: str, **params: Any) -> Plugin:
        """The one way to make a plugin by name: its parameters checked and coerced (``"50"`` -> 50), defaults filled."""
        cls = self.get(kind, name)
        return cls(**coerce_params(cls, params))

    def provider(self, kind: str, name: str) -> str:
        self.get(kind, name)
        return self._tables[kind][name][1]


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, loaded from entry points on first use."""
    global _registry
    if _registry is None:
        reg = Registry()
        reg.load_entry_points()
        _registry = reg
    return _registry


def reset_registry() -> None:
    """Forget the loaded plugins (tests use this after installing or faking entry points)."""
    global _registry
    _registry = None


def list_plugins(kind: str) -> list[str]:
    return registry().names(kind)


def create(kind: str, name: str, **params) -> Plugin:
    return registry().create(kind, name, **params)


def list_samplers() -> list[str]:
    return list_plugins("sampler")


def create_sampler(name: str, **params):
    return create("sampler", name, **params)


def list_tasks() -> list[str]:
    return list_plugins("task")


def create_task(name: str, **params):
    return create("task", name, **params)


def list_datasets() -> list[str]:
    return list_plugins("dataset")


def create_dataset(name: str, **params):
    return create("dataset", name, **params)


def list_weights() -> list[str]:
    return list_plugins("weights")


def create_weights(name: str, **params):
    return create("weights", name, **params)
