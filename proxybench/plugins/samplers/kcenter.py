"""``kcenter``: greedy k-center (farthest-first) on the pool features phi(P).

Follows Sener & Savarese, "Active Learning for Convolutional Neural Networks: A
Core-Set Approach" (ICLR 2018) and DeepCore's kCenterGreedy, the k-center column of
the ECOS paper's tables. Client-free: it covers the whole pool, whatever the device's
domain, which is why it is the diversity-only foil to ecos.

Choices where the definition is open: Euclidean distance on the unreduced phi; the
first center is a uniform random pool point (from ``rng``) and counts toward the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import CloudView, Device, Sampler, Selection, greedy_kcenter, hookimpl


@dataclass
class KCenter(Sampler):
    name: ClassVar[str] = "kcenter"
    description: ClassVar[str] = "greedy k-center on the pool features, random first center (client-free)"
    kind: ClassVar[str] = "client-free"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        first = int(rng.integers(cloud.size))
        return Selection(indices=np.sort(greedy_kcenter(cloud.features, budget, first=first)), info={"first": first})


@hookimpl
def proxybench_samplers():
    return [KCenter]
