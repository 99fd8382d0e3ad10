"""The plugin manager: built-ins and third-party plugins, loaded the same way.

(Named ``registry``: the name ``proxybench.plugins`` belongs to the built-ins package.)

The built-ins are the ``DEFAULT_PLUGINS`` tuple of the built-ins package; every other
distribution that declares entry points in the ``proxybench`` group is a third party. Both
are registered one plugin module at a time on one pluggy manager, through the same hooks. A
plugin that fails to import or register is reported and skipped (``PROXYBENCH_STRICT_PLUGINS=1``
makes that fatal), so one broken plugin never takes the command down. Names are the public
API, so two providers of one name is an error that names both.

``registry()`` imports every plugin. ``plugin_class`` and ``plugin_names`` import only the
plugins that may provide what they are asked for (the command line checks a spec, and lists
one kind, without importing the task plugins' torch): a built-in's kind is its module's
package (``proxybench.plugins.samplers...``), and a built-in sampler or task is named as its
plugin; a third-party entry point may provide anything, so it is imported.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from ..util.errors import ProxybenchError, unknown_name
from ..util.settings import current
from . import hookspecs
from .params import Plugin, coerce_params

ENTRY_POINT_GROUP = "proxybench"
#: The built-in plugins' package (its ``DEFAULT_PLUGINS`` names them), and the kind its subpackages provide.
BUILTIN_PACKAGE = "proxybench.plugins"
BUILTIN_DISTRIBUTION = "proxybench"
BUILTIN_KINDS = {"samplers": "sampler", "tasks": "task", "datasets": "dataset", "weights": "weights"}
#: Kinds whose built-in modules provide one plugin each, named as the entry point (tests/test_registry.py checks it).
NAMED_AS_ENTRY_POINT = ("sampler", "task")

#: plugin kind -> the hook that provides it
KINDS = {
    "sampler": "proxybench_samplers",
    "task": "proxybench_tasks",
    "dataset": "proxybench_datasets",
    "weights": "proxybench_weights",
}
#: plugin kind -> the base its classes subclass, as ``module:class`` of the contract (imported when a class is checked).
BASES = {"sampler": "sampler:Sampler", "task": "task:Task", "dataset": "dataset:Dataset", "weights": "weights:WeightSource"}


def base_class(kind: str) -> type[Plugin]:
    """The contract's base of a plugin kind (``proxybench.Sampler`` for a sampler)."""
    module, _, name = BASES[kind].partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


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
    return current().strict_plugins


def default_plugins() -> list[EntryPoint]:
    """The built-ins, as entry points made from ``DEFAULT_PLUGINS`` (reading the tuple imports no plugin)."""
    builtins = importlib.import_module(BUILTIN_PACKAGE).DEFAULT_PLUGINS
    return [EntryPoint(name=name, value=module, group=ENTRY_POINT_GROUP) for name, module in builtins]


def third_party_plugins() -> list[EntryPoint]:
    """Entry points of every installed distribution but proxybench itself (an old install of it may still declare some)."""
    return [ep for ep in entry_points(group=ENTRY_POINT_GROUP)
            if ep.dist is None or ep.dist.name != BUILTIN_DISTRIBUTION]


def builtin_kind(ep: EntryPoint) -> str | None:
    """The kind a built-in provides, from its module's package; None for a third-party entry point."""
    if ep.dist is not None:
        return None
    parts = ep.value.partition(":")[0].strip().split(".")
    if parts[:2] != BUILTIN_PACKAGE.split(".") or len(parts) < 4:
        return None
    return BUILTIN_KINDS.get(parts[2])


def _may_provide(ep: EntryPoint, kind: str) -> bool:
    return builtin_kind(ep) in (None, kind)


#: Whether this process imports third-party plugin modules: the cloud process and the describing helper do;
#: a process that holds the device's data (the harness) gets them described (``contract.describe``).
_IMPORTS_THIRD_PARTY = False
#: What a harness imports of a third party itself: the kinds that produce its data, which hold it anyway.
DATA_KINDS = ("dataset", "weights")


def import_third_party_plugins() -> None:
    """Let this process import third-party plugin modules (the cloud process does, first thing); forgets the registry."""
    global _IMPORTS_THIRD_PARTY
    _IMPORTS_THIRD_PARTY = True
    reset_registry()


def _named_as_entry_point(ep: EntryPoint, kind: str) -> bool:
    return kind in NAMED_AS_ENTRY_POINT and builtin_kind(ep) == kind


class Registry:
    """A pluggy manager plus the name -> class tables built from its hooks."""

    def __init__(self, imports_third_party: bool | None = None) -> None:
        self.pm = pluggy.PluginManager("proxybench")
        self.pm.add_hookspecs(hookspecs)
        self.loaded: list[LoadedPlugin] = []
        self.failures: list[PluginFailure] = []
        self.imports_third_party = _IMPORTS_THIRD_PARTY if imports_third_party is None else imports_third_party
        self._tables: dict[str, dict[str, tuple[type[Plugin], str]]] = {}
        self._pending: list[EntryPoint] = []  # entry points found (``discover``) and not imported yet
        self._undescribed: list[EntryPoint] = []  # third-party entry points a harness has not had described yet
        self._data_kinds: dict[str, set[str]] = {}  # described entry point -> the data kinds it provides
        self._run_finished_outside: tuple[str, ...] = ()  # described entry points with a run_finished hook

    def discover(self, builtins: bool = True) -> None:
        """Find the built-ins and the installed entry points without importing them (``load_pending`` or ``get`` does).

        Where third-party modules may not be imported, they are described instead, when first needed.
        """
        third = third_party_plugins()
        found = (default_plugins() if builtins else []) + (third if self.imports_third_party else [])
        self._pending = sorted(found, key=lambda e: e.name)
        self._undescribed = [] if self.imports_third_party else third

    def _may_provide(self, ep: EntryPoint, kind: str) -> bool:
        if ep.name in self._data_kinds:
            return kind in self._data_kinds[ep.name]
        return _may_provide(ep, kind)

    def _describe_third_party(self) -> None:
        """Have the third-party plugins described by the confined helper; stand-ins for their samplers and tasks.

        An entry point that also provides a dataset or weights stays pending for those kinds only:
        a harness imports it when such a plugin is asked for, since it produces the data.
        """
        from .describe import describe_third_party
        from .described import PluginDescription, stand_in

        undescribed, self._undescribed = self._undescribed, []
        described = describe_third_party()
        for ep in undescribed:
            dist, version = (ep.dist.name, ep.dist.version) if ep.dist is not None else ("?", "?")
            provides = described.provides.get(ep.name)
            if provides is None:
                continue  # it failed in the helper: reported below
            for message in described.plugins.get(ep.name, []):
                desc = PluginDescription.from_message(message)
                self._add(desc.kind, stand_in(desc, base_class(desc.kind)), desc.provider)
            data = {kind for kind in provides if kind in DATA_KINDS}
            if data:
                self._data_kinds[ep.name] = data
                self._pending.append(ep)
            self.loaded.append(LoadedPlugin(ep.name, dist, version, provides))
        self._run_finished_outside = described.run_finished
        for name, dist, error in described.failures:
            if _strict():
                raise ProxybenchError(f"plugin {name!r} from {dist} failed to load: {error}")
            self.failures.append(PluginFailure(name, dist, error))

    @property
    def complete(self) -> bool:
        """Whether every entry point found has been imported."""
        return not self._pending

    def load_pending(self, wanted: Callable[[EntryPoint], bool] | None = None) -> None:
        """Import the entry points found and not imported yet (those ``wanted``, if given)."""
        if self._undescribed and (wanted is None or any(wanted(ep) for ep in self._undescribed)):
            self._describe_third_party()
        for ep in [ep for ep in self._pending if wanted is None or wanted(ep)]:
            self._load_one(ep)  # raises (strict mode, a duplicate name): the entry point stays pending, to fail again
            self._pending.remove(ep)

    def load_kind(self, kind: str) -> None:
        """Import every entry point that may provide a ``kind``: the built-ins of that kind and all third-party ones."""
        self.load_pending(lambda ep: self._may_provide(ep, kind))

    def known_names(self, kind: str) -> list[str]:
        """Names of ``kind`` imported so far, and those of built-in samplers or tasks not imported yet."""
        pending = {ep.name for ep in self._pending if _named_as_entry_point(ep, kind)}
        return sorted(set(self._tables.get(kind, {})) | pending)

    def _load_one(self, ep: EntryPoint) -> None:
        if ep.dist is None:  # a built-in
            dist, version = BUILTIN_DISTRIBUTION, importlib.metadata.version(BUILTIN_DISTRIBUTION)
        else:
            dist, version = ep.dist.name, ep.dist.version
        try:
            module = ep.load()
            self.register(module, name=ep.name, distribution=dist, version=version, kinds=self._data_kinds.get(ep.name))
        except ProxybenchError:
            raise
        except Exception as exc:  # a broken third-party plugin must not break the tool
            if _strict():
                raise ProxybenchError(f"plugin {ep.name!r} from {dist} failed to load: {exc!r}") from exc
            self.failures.append(PluginFailure(ep.name, dist, f"{type(exc).__name__}: {exc}"))
            print(f"proxybench: skipping plugin {ep.name!r} ({dist}): {type(exc).__name__}: {exc}", file=sys.stderr)

    def register(self, module: ModuleType | object, name: str, distribution: str = "(local)", version: str = "",
                 kinds: set[str] | None = None) -> None:
        """Register a plugin object (usually a module with hookimpls) and index what it provides (of ``kinds``)."""
        self.pm.register(module, name=name)
        try:
            provides = {}
            for kind, hook in KINDS.items():
                if kinds is not None and kind not in kinds:
                    continue
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
        if kinds is None:
            self.loaded.append(LoadedPlugin(name, distribution, version, provides))

    def run_finished(self, record: dict[str, Any]) -> None:
        """Call every ``proxybench_run_finished`` hook: this process's, and a harness's third parties' in the helper."""
        self.pm.hook.proxybench_run_finished(record=record)
        if self._run_finished_outside:
            from .describe import run_finished_outside

            run_finished_outside(record, self._run_finished_outside)

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
        base = base_class(kind)
        if not (isinstance(cls, type) and issubclass(cls, base)):
            what = f"class {cls.__qualname__}" if isinstance(cls, type) else f"{type(cls).__name__} {cls!r}"
            raise TypeError(f"{provider} offers {what} as a {kind}, but it does not subclass proxybench.{base.__name__}; "
                            f"its {KINDS[kind]} hook must return subclasses of proxybench.{base.__name__}")
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
        """The class of plugin ``name``; entry points not imported yet are imported as far as needed.

        First the entry point named ``name``, then those that may provide a ``kind``. Built-in
        samplers and tasks are named as their entry points, so an unknown name is reported (with
        the closest known one) without importing them. Two providers of one name are found
        when the rest is imported (``registry()``).
        """
        if name not in self._tables.get(kind, {}) and self._pending:
            self.load_pending(lambda ep: ep.name == name and self._may_provide(ep, kind))
            if name not in self._tables.get(kind, {}):
                self.load_pending(lambda ep: self._may_provide(ep, kind) and not _named_as_entry_point(ep, kind))
        table = self._tables.get(kind, {})
        if name not in table:
            raise unknown_name(kind, name, self.known_names(kind))
        return table[name][0]

    def create(self, kind: str, name: str, **params: Any) -> Plugin:
        """The one way to make a plugin by name: its parameters checked and coerced (``"50"`` -> 50), defaults filled."""
        cls = self.get(kind, name)
        return cls(**coerce_params(cls, params))

    def provider(self, kind: str, name: str) -> str:
        self.get(kind, name)
        return self._tables[kind][name][1]


_registry: Registry | None = None


def _shared() -> Registry:
    """The process-wide registry, with what it has imported so far (entry points are found on first use)."""
    global _registry
    if _registry is None:
        reg = Registry()
        reg.discover()
        _registry = reg
    return _registry


def registry() -> Registry:
    """The process-wide registry, every entry point imported (on first use)."""
    reg = _shared()
    reg.load_pending()
    return reg


def plugin_class(kind: str, name: str) -> type[Plugin]:
    """The class of plugin ``name`` of ``kind``, importing as few plugins as it can (``Registry.get``)."""
    return _shared().get(kind, name)


def make_plugin(kind: str, name: str, **params: Any) -> Plugin:
    """``create``, importing as few plugins as it can: parameters checked and coerced, defaults filled."""
    return _shared().create(kind, name, **params)


def plugin_names(kind: str) -> list[str]:
    """The names of every plugin of ``kind``; built-in samplers and tasks are named by their entry points, not imported."""
    reg = _shared()
    reg.load_pending(lambda ep: reg._may_provide(ep, kind) and not _named_as_entry_point(ep, kind))
    return reg.known_names(kind)


def plugin_classes(kind: str) -> dict[str, type[Plugin]]:
    """Name -> class of every plugin of ``kind``, importing only the plugins that may provide one."""
    reg = _shared()
    reg.load_kind(kind)
    return {name: reg.get(kind, name) for name in reg.names(kind)}


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
