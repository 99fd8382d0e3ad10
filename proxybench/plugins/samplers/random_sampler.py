"""``random``: a uniform draw from the pool, the client-free floor every method must beat."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import CloudView, Device, Sampler, Selection, hookimpl


@dataclass
class RandomSampler(Sampler):
    name: ClassVar[str] = "random"
    description: ClassVar[str] = "uniform draw from the pool without replacement (client-free)"
    kind: ClassVar[str] = "client-free"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        return Selection(indices=np.sort(rng.choice(cloud.size, size=budget, replace=False)))


@hookimpl
def proxybench_samplers():
    return [RandomSampler]
