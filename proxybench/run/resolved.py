"""One run, resolved once: the spec with its defaults, its plugin classes, its dataset, and how the harness runs it.

The command line (or ``runner.run``, given a bare spec) makes it before any data is built,
and everything after reads it: the session, the record, the code identity. Names are
looked up, parameters checked and the dataset built here and nowhere else in the harness.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..contract.dataset import Dataset
from ..contract.params import Plugin
from ..contract.registry import plugin_class
from ..contract.sampler import Sampler, check_sizes
from ..contract.task import Task
from ..contract.weights import WeightSource
from ..harness.options import HarnessOptions
from .spec import RunSpec, check_client_domain, check_labels, pool_bound


@dataclass(frozen=True)
class ResolvedRun:
    """A spec resolved against the plugins, with the harness's options; what a ``RunSession`` runs."""

    spec: RunSpec  # resolved: defaults filled, the form that is hashed and recorded
    sampler: type[Sampler]
    task: type[Task]
    dataset: Dataset  # built, not loaded: nothing is generated or decoded until the session
    weights: type[WeightSource]  # phi's weight source (the session builds phi by the spec's name)
    options: HarnessOptions

    @classmethod
    def of(cls, spec: RunSpec, options: HarnessOptions | None = None,
           classes: Mapping[str, type[Plugin]] | None = None) -> ResolvedRun:
        """``spec`` resolved (``RunSpec.resolve``; ``classes``: the plugin classes already looked up by name).

        Also checked before any data is built: the client domain against what the dataset
        declares, and the labels the task and the sampler need against the parts the dataset
        declares unlabeled. Only the plugins the spec names are imported (the command line checks a run
        without torch); ``runner.run`` imports the rest. ``options``: those of the settings in use
        when not given.
        """
        weights = plugin_class("weights", spec.weights.partition(":")[0])  # NAME[:ARG]: its argument checked by resolve
        resolved, plugins = spec.resolve({**(classes or {}), "weights": weights})
        check_client_domain(resolved, plugins["dataset"])
        check_labels(resolved, {kind: type(plugin) for kind, plugin in plugins.items()}, plugins["dataset"])
        return cls(resolved, type(plugins["sampler"]), type(plugins["task"]), plugins["dataset"], weights,
                   HarnessOptions.from_settings() if options is None else options)

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    @property
    def plugin_classes(self) -> dict[str, type[Plugin]]:
        """kind -> class of each plugin the run uses."""
        return {"sampler": self.sampler, "task": self.task, "dataset": type(self.dataset), "weights": self.weights}

    def largest_pool(self) -> int | None:
        """The most pool images the scenario can hold, from the sizes the dataset declares (None: it declares none)."""
        return pool_bound(self.spec, self.dataset)

    def check_sizes(self, pool_size: int, device_size: int | None = None) -> None:
        """The budget and the sampler's parameters against the data's sizes (``contract.sampler.check_sizes``).

        The session calls it once the scenario is cut, before phi is built: a budget larger than
        the pool, or parameters the sampler refuses, fail in seconds, not after the features.
        """
        check_sizes(self.sampler(**self.spec.sampler_params), self.spec.budget, pool_size, device_size, self.spec.delta)
