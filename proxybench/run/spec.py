"""RunSpec: one run's full configuration, validated against the plugins, with a canonical hash."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..contract.params import Plugin, coerce_params
from ..contract.registry import make_plugin, plugin_class, plugin_names
from ..contract.weights import parse_weights
from ..util.cache import canonical_hash
from ..util.errors import ProxybenchError
from .client_mix import parse_client_domain
from .scenario import pool_size_bound

if TYPE_CHECKING:
    from ..contract.dataset import Dataset

#: Bump when a RunSpec field is added or its meaning changes.
SPEC_VERSION = 1
#: The plugins a spec names, in the order their names are checked.
PLUGIN_KINDS = ("sampler", "task", "dataset")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's result. Plugin parameters are stored complete (defaults filled).

    The defaults are plain names: a spec is made, compared, hashed and serialized without any
    plugin installed, and its names are looked up in the registry only by ``resolve`` (and so by
    ``resolved``, ``run_id``, ``checked``), which imports only the plugins the spec names
    (``plugin_class``), so a spec is checked without loading torch. A run resolves its spec once
    (``run.resolved.ResolvedRun``).
    """

    sampler: str = "ecos"
    task: str = "autolabel"
    dataset: str = "digits"
    client_domain: str = "street"  # one domain, or a mixture: "street+photo", "street:0.7,photo:0.3"
    backbone: str = "tf_efficientnet_lite0"
    weights: str = "lite0"
    feature_layer: int = 3  # pooled stage-3 output: chosen by measurement (docs/calibration-extractor.md)
    budget: int = 1000
    seed: int = 0
    client_fraction: float = 1.0  # share of the client domain's private part the device holds
    pool_has_client_domain: bool = True
    delta: float = 1e-5
    sampler_params: dict[str, Any] = field(default_factory=dict)
    task_params: dict[str, Any] = field(default_factory=dict)
    dataset_params: dict[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        """From the fields as given, as ``==`` compares them: hashing needs no plugin and builds none."""
        return hash(canonical_hash(self.to_dict()))

    def resolved(self) -> RunSpec:
        """Validate names and parameters, fill in defaults: the form that is hashed and recorded.

        Building the plugins can be slow (a task checks its model), so the result is kept with
        the spec, under a hash of the fields it was resolved from: a spec whose parameter dicts
        were changed in place is resolved afresh, never served a stale form.
        """
        return self._memo()[1]

    @property
    def run_id(self) -> str:
        """Hash of the resolved spec: equal specs (defaults spelled out or not) share one id."""
        return self._memo()[2]

    def checked(self) -> RunSpec:
        """The resolved spec, with its client domain checked against what its dataset declares.

        Nothing is generated or decoded (``Dataset.client_domains``), so a run that calls this first
        fails on a typo in a moment. It is not part of ``resolved``: a folder dataset's declaration
        reads its folder, and a ``run_id`` must be computable where the data is absent.
        """
        spec = self.resolved()
        check_client_domain(spec, make_plugin("dataset", spec.dataset, **spec.dataset_params))
        return spec

    def largest_pool(self) -> int | None:
        """The most pool images this spec's scenario can hold, from the sizes its dataset declares (None: it declares none)."""
        spec = self.resolved()
        return pool_bound(spec, make_plugin("dataset", spec.dataset, **spec.dataset_params))

    def resolve(self, classes: Mapping[str, type[Plugin]] | None = None) -> tuple[RunSpec, dict[str, Plugin]]:
        """The resolved spec and its plugins, built once from ``classes`` (looked up by name where not given;
        a ``weights`` entry is phi's weight source, whose ``NAME:ARG`` is checked against it).

        Names are checked first, then the run's numbers, then each plugin's parameters
        (checked and coerced by ``coerce_params``). The resolved spec is remembered (``resolved``,
        ``run_id``); the plugins are not, since a spec crosses to sweep workers: a
        ``ResolvedRun`` keeps them.
        """
        given = dict(classes or {})
        classes = {kind: given[kind] if kind in given else plugin_class(kind, getattr(self, kind)) for kind in PLUGIN_KINDS}
        for kind in PLUGIN_KINDS:
            if classes[kind].name != getattr(self, kind):
                raise ValueError(f"the {kind} class given is {classes[kind].name!r}, the spec names {getattr(self, kind)!r}")
        parse_weights(self.weights, given.get("weights"))
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget <= 0:
            raise ProxybenchError(f"budget must be a positive integer, got {self.budget!r}")
        if not 0.0 < self.client_fraction <= 1.0:
            raise ProxybenchError(f"client_fraction must be in (0, 1], got {self.client_fraction}")
        if not 0.0 < self.delta < 1.0:
            raise ProxybenchError(f"delta must be in (0, 1), got {self.delta}")
        plugins = {kind: classes[kind](**coerce_params(classes[kind], getattr(self, f"{kind}_params")))
                   for kind in PLUGIN_KINDS}
        spec = dataclasses.replace(self, **{f"{kind}_params": plugins[kind].params() for kind in PLUGIN_KINDS})
        run_id = canonical_hash({"spec_version": SPEC_VERSION, **spec.to_dict()})
        spec.__dict__["_resolved"] = (canonical_hash(spec.to_dict()), spec, run_id)  # resolving is idempotent
        self.__dict__["_resolved"] = (canonical_hash(self.to_dict()), spec, run_id)  # frozen: only __setattr__ is barred
        return spec, plugins

    def _memo(self) -> tuple[str, RunSpec, str]:
        """(hash of the fields as given, resolved spec, run_id), computed once per field values."""
        memo = self.__dict__.get("_resolved")
        if memo is None or memo[0] != canonical_hash(self.to_dict()):
            self.resolve()
            memo = self.__dict__["_resolved"]
        return memo

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names - {"spec_version"}
        if unknown:
            raise ProxybenchError(f"unknown RunSpec fields {sorted(unknown)}; fields are {sorted(names)}")
        return cls(**{k: v for k, v in d.items() if k in names})


def check_client_domain(spec: RunSpec, dataset: Dataset) -> None:
    """The spec's client domain against what its dataset declares (``Dataset.client_domains``): nothing is built."""
    parse_client_domain(spec.client_domain, dataset.client_domains())


#: The parts of the data whose labels a sampler or task may need, and the class variable that says it does.
LABEL_NEEDS = (("pool", "needs_pool_labels"), ("device", "device_has_labels"))


def labels_needed(cls: type[Plugin]) -> set[str]:
    """The parts of the data (``Dataset.unlabeled_parts``) whose labels a sampler or task class needs."""
    return {part for part, flag in LABEL_NEEDS if getattr(cls, flag, False)}


def check_labels(spec: RunSpec, classes: Mapping[str, type[Plugin]], dataset: Dataset) -> None:
    """The labels the spec's task and sampler need against the parts its dataset declares unlabeled: nothing is built.

    Every task is scored on the device's test labels, so without them no run is possible. Another
    missing part refuses the plugins that need it, naming those of their kind that can run instead.
    """
    missing = dataset.unlabeled_parts()
    if "device_test" in missing:
        raise ProxybenchError(f"no task can run on dataset {spec.dataset}: every task is scored on the device's test "
                              f"labels, and {missing['device_test']}")
    for kind in ("task", "sampler"):
        lacking = sorted(labels_needed(classes[kind]) & set(missing))
        if lacking:
            can = [name for name in plugin_names(kind) if not labels_needed(plugin_class(kind, name)) & set(missing)]
            raise ProxybenchError(f"{kind} {getattr(spec, kind)} needs {lacking[0]} labels, but on dataset "
                                  f"{spec.dataset} {missing[lacking[0]]}; {kind}s that can run on it: "
                                  f"{', '.join(can) or 'none'} (--{kind} NAME)")


def pool_bound(spec: RunSpec, dataset: Dataset) -> int | None:
    """The most pool images the spec's scenario can hold, from the sizes its dataset declares (None: it declares none).

    Nothing is built (``Dataset.training_sizes``): a budget above it fails before any data is made.
    """
    sizes = dataset.training_sizes()
    if sizes is None:
        return None
    mix = parse_client_domain(spec.client_domain, dataset.client_domains())
    return pool_size_bound(sizes, mix, spec.pool_has_client_domain)
