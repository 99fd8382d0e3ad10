"""Broken plugins, one rule each, for the conformance kit's tests (module-level, importable by reference)."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import (
    OUTSIDE_LABEL_SPACE,
    CloudView,
    Device,
    DeviceContext,
    ImageData,
    Message,
    Sampler,
    Selection,
    Task,
    TaskContext,
    TaskResult,
    gaussian_event,
    non_private,
)
from proxybench.plugins.datasets.digits.dataset import DigitsDomains


def exact_mean(ctx: DeviceContext, msg: Message) -> Message:
    """The device's feature mean, exactly: a release with no noise."""
    return {"mean": ctx.features().mean(0).astype(np.float32)}


def nearest(cloud: CloudView, point: np.ndarray, budget: int) -> np.ndarray:
    return np.argsort(((np.asarray(cloud.features) - point) ** 2).sum(1), kind="stable")[:budget]


@dataclass
class ShortBudget(Sampler):
    name: ClassVar[str] = "kit-short-budget"
    description: ClassVar[str] = "broken: one index short"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        return Selection(indices=rng.choice(cloud.size, budget - 1, replace=False))


@dataclass
class Repeats(Sampler):
    name: ClassVar[str] = "kit-repeats"
    description: ClassVar[str] = "broken: draws with replacement"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        return Selection(indices=np.zeros(budget, np.int64))


@dataclass
class Unseeded(Sampler):
    name: ClassVar[str] = "kit-unseeded"
    description: ClassVar[str] = "broken: ignores the rng it is given"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        return Selection(indices=np.random.default_rng().choice(cloud.size, budget, replace=False))


@dataclass
class Undeclared(Sampler):
    name: ClassVar[str] = "kit-undeclared"
    description: ClassVar[str] = "broken: asks the device and declares nothing"
    kind: ClassVar[str] = "private"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        return Selection(indices=nearest(cloud, device.call(exact_mean, {})["mean"], budget))


@dataclass
class ClosureProgram(Sampler):
    name: ClassVar[str] = "kit-closure"
    description: ClassVar[str] = "broken: its device program is a closure"
    kind: ClassVar[str] = "privacy-free"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        def program(ctx: DeviceContext, msg: Message) -> Message:
            return {"mean": ctx.features().mean(0)}

        mean = device.call(program, {})["mean"]
        return Selection(indices=nearest(cloud, mean, budget), privacy=non_private())


@dataclass
class ClaimsClientFree(Sampler):
    name: ClassVar[str] = "kit-claims-client-free"
    description: ClassVar[str] = "broken: uploads the device mean yet says client-free"
    kind: ClassVar[str] = "client-free"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        return Selection(indices=nearest(cloud, device.call(exact_mean, {})["mean"], budget), privacy=non_private())


#: what ``Snoop`` found of the device in its own process, one entry per selection
SNOOPED: list[int] = []


def client_pixel_sum(ctx: DeviceContext, msg: Message) -> Message:
    """A raw reply that tells which rows the device holds."""
    return {"sum": np.float64(ctx.images.astype(np.float64).sum())}


@dataclass
class Snoop(Sampler):
    """Looks for the device's rows in its own process (contexts, or the tiny scenario's client rows) and reads them."""

    name: ClassVar[str] = "kit-snoop"
    description: ClassVar[str] = "broken: reads device data from its process's memory"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        from proxybench.testing import TinyScenario

        found = [o.features() for o in gc.get_objects() if isinstance(o, DeviceContext)]
        found += [o.phi.extract(o.client_images) for o in gc.get_objects() if isinstance(o, TinyScenario)]
        SNOOPED.append(len(found))
        point = found[0].mean(0) if found else np.zeros(cloud.features.shape[1])
        return Selection(indices=nearest(cloud, point, budget))


@dataclass
class ListDefault(Sampler):
    name: ClassVar[str] = "kit-list-default"
    description: ClassVar[str] = "broken: a parameter --param cannot give"
    radii: tuple = (1.0, 2.0)

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        return Selection(indices=rng.choice(cloud.size, budget, replace=False))


@dataclass
class NoNoise(Sampler):
    """Declares the Gaussian mechanism with sigma 5 on the device mean, but the program sends it exactly."""

    name: ClassVar[str] = "kit-no-noise"
    description: ClassVar[str] = "broken: declares noise, sends exact values"
    kind: ClassVar[str] = "private"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        mean = device.call(exact_mean, {})["mean"]
        return Selection(indices=nearest(cloud, mean, budget), privacy=gaussian_event(5.0, 1.0), adjacency="add_remove")


@dataclass
class MadeUpAccuracy(Task):
    name: ClassVar[str] = "kit-made-up-accuracy"
    description: ClassVar[str] = "broken: reports an accuracy it never measured on the device"

    def run(self, ctx: TaskContext) -> TaskResult:
        return TaskResult(metrics={"accuracy": 0.5})


@dataclass
class LabeledDistractors(DigitsDomains):
    name: ClassVar[str] = "kit-labeled-distractors"
    description: ClassVar[str] = "broken: its letter distractors carry digit labels"

    def generate(self) -> ImageData:
        data = super().generate()
        labels = np.where(data.labels == OUTSIDE_LABEL_SPACE, 0, data.labels)
        return ImageData(data.images, labels, data.domains, data.is_test, data.groups, data.domain_names,
                         data.class_names, data.distractor_domains)
