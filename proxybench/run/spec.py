"""RunSpec: one run's full configuration, validated against the plugins, with a canonical hash."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..contract.registry import make_plugin, plugin_class, registry
from ..contract.weights import parse_weights
from ..util.cache import canonical_hash
from ..util.errors import ProxybenchError
from .client_mix import parse_client_domain
from .scenario import pool_size_bound

#: Bump when a RunSpec field is added or its meaning changes.
SPEC_VERSION = 1


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's result. Plugin parameters are stored complete (defaults filled).

    The defaults are plain names: a spec is made, compared, hashed and serialized without any
    plugin installed, and its names are looked up in the registry only by ``resolved`` (and so
    ``run_id``), ``checked`` and ``validate``. ``resolved`` and ``checked`` import only the plugins
    the spec names (``plugin_class``), so a spec is checked without loading torch.
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
    client_fraction: float = 0.5
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
        allowed = make_plugin("dataset", spec.dataset, **spec.dataset_params).client_domains()
        parse_client_domain(spec.client_domain, allowed)
        return spec

    def largest_pool(self) -> int | None:
        """The most pool images this spec's scenario can hold, from the sizes its dataset declares (None: it declares none).

        Nothing is built (``Dataset.training_sizes``): a budget above it fails before any data is made.
        """
        spec = self.resolved()
        dataset = make_plugin("dataset", spec.dataset, **spec.dataset_params)
        sizes = dataset.training_sizes()
        if sizes is None:
            return None
        mix = parse_client_domain(spec.client_domain, dataset.client_domains())
        return pool_size_bound(sizes, mix, spec.client_fraction, spec.pool_has_client_domain)

    def validate(self) -> RunSpec:
        """``checked``, then every plugin imported (``registry()``): two plugins of one name fail here too."""
        spec = self.checked()
        registry()
        return spec

    def _memo(self) -> tuple[str, RunSpec, str]:
        """(hash of the fields as given, resolved spec, run_id), computed once per field values."""
        given = canonical_hash(self.to_dict())
        memo = self.__dict__.get("_resolved")
        if memo is None or memo[0] != given:
            spec = self._resolve()
            run_id = canonical_hash({"spec_version": SPEC_VERSION, **spec.to_dict()})
            spec.__dict__["_resolved"] = (canonical_hash(spec.to_dict()), spec, run_id)  # resolving is idempotent
            memo = self.__dict__["_resolved"] = (given, spec, run_id)  # frozen: only __setattr__ is barred
        return memo

    def _resolve(self) -> RunSpec:
        for kind, name in (("sampler", self.sampler), ("task", self.task), ("dataset", self.dataset)):
            plugin_class(kind, name)  # unknown names fail first, before any parameter is checked
        parse_weights(self.weights)
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget <= 0:
            raise ProxybenchError(f"budget must be a positive integer, got {self.budget!r}")
        if not 0.0 < self.client_fraction <= 1.0:
            raise ProxybenchError(f"client_fraction must be in (0, 1], got {self.client_fraction}")
        if not 0.0 < self.delta < 1.0:
            raise ProxybenchError(f"delta must be in (0, 1), got {self.delta}")
        return dataclasses.replace(
            self,
            sampler_params=make_plugin("sampler", self.sampler, **self.sampler_params).params(),
            task_params=make_plugin("task", self.task, **self.task_params).params(),
            dataset_params=make_plugin("dataset", self.dataset, **self.dataset_params).params(),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names - {"spec_version"}
        if unknown:
            raise ProxybenchError(f"unknown RunSpec fields {sorted(unknown)}; fields are {sorted(names)}")
        return cls(**{k: v for k, v in d.items() if k in names})
