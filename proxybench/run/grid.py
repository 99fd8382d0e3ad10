"""Grid files -> RunSpecs: every axis of a comparison, crossed into resolved, validated specs.

A grid (``leaderboards/NAME.toml``) names every axis of a comparison, so the leaderboard
generated from it (``leaderboards/NAME/``) can always be regenerated or extended.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
from ..contract.registry import make_plugin, plugin_class, plugin_names
from ..util.cache import Cache
from ..util.errors import ProxybenchError
from .spec import RunSpec

#: Grid keys that are axes (lists crossed with each other).
AXES = ("datasets", "client_domains", "backbones", "samplers", "tasks", "budgets", "seeds")
#: RunSpec fields a grid may fix for every run under [spec].
FIXED_FIELDS = ("client_fraction", "pool_has_client_domain", "delta")
BACKBONE_FIELDS = ("backbone", "weights", "feature_layer")


@dataclass(frozen=True)
class Choice:
    """One plugin with one set of parameters (a variant)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Grid:
    """A parsed grid file: its name (the file stem), description and the specs it expands to."""

    name: str
    path: Path
    description: str
    specs: list[RunSpec]
    #: sampler x task pairs the grid names but that cannot run together, with the reason
    left_out: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def leaderboard_dir(self) -> Path:
        """Tables live beside the grid that defines them: leaderboards/NAME.toml -> leaderboards/NAME/."""
        return self.path.with_suffix("")


def _variants(entry: Any, kind: str, where: str) -> list[Choice]:
    """``"name"`` or ``{name = ..., params = {...}}``; list-valued params expand into their cross product."""
    if isinstance(entry, str):
        return [Choice(entry)]
    if not isinstance(entry, dict) or "name" not in entry or set(entry) - {"name", "params"}:
        raise ProxybenchError(f"{where}: a {kind} is a name or a table {{name = ..., params = {{...}}}}, got {entry!r}")
    params = entry.get("params", {})
    keys = sorted(params)
    values = [v if isinstance(v, list) else [v] for v in (params[k] for k in keys)]
    return [Choice(entry["name"], dict(zip(keys, combo, strict=True))) for combo in itertools.product(*values)]


def _choices(value: Any, kind: str, where: str) -> list[Choice]:
    if value == "all":
        return [Choice(n) for n in plugin_names(kind)]
    if not isinstance(value, list) or not value:
        raise ProxybenchError(f"{where}: expected \"all\" or a non-empty list of {kind}s, got {value!r}")
    return [c for entry in value for c in _variants(entry, kind, where)]


def _backbones(value: Any, where: str) -> list[dict[str, Any]]:
    out = []
    for entry in value:
        entry = {"backbone": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or set(entry) - set(BACKBONE_FIELDS):
            raise ProxybenchError(f"{where}: a backbone is a timm name or a table with keys {BACKBONE_FIELDS}, got {entry!r}")
        out.append(entry)
    return out


def _client_domains(value: Any, dataset: Choice, cache: Cache, where: str) -> list[str]:
    if value != "all":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProxybenchError(f"{where}: client_domains must be \"all\" or a list of names, got {value!r}")
        return value
    # As declared, or as only the data knows them (an unkeyed build: a dataset with a secret declares its domains).
    plugin = make_plugin("dataset", dataset.name, **dataset.params)
    return list(plugin.client_domains() or plugin.load(cache).client_domains)


def incompatibility(sampler: str, task: str) -> str | None:
    """Why a sampler cannot run under a task (None when it can): checked from the plugins' declarations."""
    if plugin_class("sampler", sampler).needs_pool_labels and not plugin_class("task", task).pool_labels_visible:
        return f"{sampler} needs pool labels; {task} keeps the pool unlabeled"
    return None


def expand(grid: dict[str, Any], where: str = "grid", cache: Cache | None = None,
           left_out: dict[tuple[str, str], str] | None = None) -> list[RunSpec]:
    """Cross every axis of a parsed grid into resolved RunSpecs, in a resumable order, without duplicates.

    Seeds vary slowest, so an interrupted sweep has complete tables for its first seeds.
    Sampler x task pairs that cannot run together are not expanded; they are collected in
    ``left_out`` (pair -> reason) so the caller can say so.
    """
    unknown = set(grid) - set(AXES) - {"description", "spec"}
    if unknown:
        raise ProxybenchError(f"{where}: unknown keys {sorted(unknown)}; a grid has {sorted(AXES)}, description and [spec]")
    if "samplers" not in grid:
        raise ProxybenchError(f"{where}: a grid needs samplers (\"all\" or a list)")
    fixed = grid.get("spec", {})
    if set(fixed) - set(FIXED_FIELDS):
        raise ProxybenchError(f"{where}: [spec] may set {FIXED_FIELDS}, got {sorted(fixed)}")
    defaults = RunSpec()
    datasets = _choices(grid.get("datasets", [defaults.dataset]), "dataset", f"{where}: datasets")
    backbones = _backbones(grid.get("backbones", [{}]), f"{where}: backbones")
    samplers = _choices(grid["samplers"], "sampler", f"{where}: samplers")
    tasks = _choices(grid.get("tasks", [defaults.task]), "task", f"{where}: tasks")
    budgets = grid.get("budgets", [defaults.budget])
    seeds = grid.get("seeds", [defaults.seed])
    cache = cache or Cache()

    specs: dict[str, RunSpec] = {}
    for dataset in datasets:
        domains = _client_domains(grid.get("client_domains", "all"), dataset, cache, f"{where}: client_domains")
        for backbone, seed, domain, task, sampler, budget in itertools.product(
            backbones, seeds, domains, tasks, samplers, budgets
        ):
            reason = incompatibility(sampler.name, task.name)
            if reason:
                if left_out is not None:
                    left_out[(sampler.name, task.name)] = reason
                continue
            spec = RunSpec(
                dataset=dataset.name, dataset_params=dataset.params, client_domain=domain, **backbone,
                sampler=sampler.name, sampler_params=sampler.params, task=task.name, task_params=task.params,
                budget=budget, seed=seed, **fixed,
            ).resolved()
            specs.setdefault(spec.run_id, spec)
    return list(specs.values())


#: RunSpec fields ``--where`` may filter on.
WHERE_FIELDS = ("dataset", "client_domain", "backbone", "weights", "sampler", "task", "budget", "seed")


def restrict(specs: list[RunSpec], where: list[str]) -> list[RunSpec]:
    """The specs matching every ``FIELD=VALUE`` (several values: ``FIELD=A,B``): part of a grid, same run ids."""
    wanted: dict[str, set[str]] = {}
    for item in where:
        name, sep, values = item.partition("=")
        if not sep or name not in WHERE_FIELDS or not values:
            raise ProxybenchError(f"--where {item!r}: expected FIELD=VALUE[,VALUE...] with FIELD one of {WHERE_FIELDS}")
        wanted.setdefault(name, set()).update(values.split(","))
    for name, values in wanted.items():
        present = sorted({str(getattr(s, name)) for s in specs})
        missing = sorted(values - set(present))
        if missing:
            raise ProxybenchError(f"--where {name}={','.join(missing)}: not in this grid; its {name} values are {present}")
    return [s for s in specs if all(str(getattr(s, k)) in v for k, v in wanted.items())]


def load_grid(path: Path | str, cache: Cache | None = None) -> Grid:
    """Read and expand a grid file; every spec is validated before anything runs."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProxybenchError(f"cannot read grid {path}: {exc}") from exc
    left_out: dict[tuple[str, str], str] = {}
    specs = expand(data, str(path), cache, left_out)
    return Grid(path.stem, path, data.get("description", ""), specs, left_out)
