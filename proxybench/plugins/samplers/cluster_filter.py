"""``cluster-filter``: keep the clusters the device's data falls in, draw uniformly inside them.

Follows DataComp's image-based filter (Gadre et al., "DataComp", NeurIPS 2023 D&B):
cluster the pool's embeddings, keep the clusters that are the nearest cluster of at
least one target example, sample the pool from the kept clusters. Here the "target
examples" are the device's private data, seen only through ECOS's noisy coverage
counts (``coverage.py``: same bytes, same epsilon as ``ecos``), so a cluster is kept
when its noisy count is positive (or >= ``tau * sigma`` when tau > 0).

Choices where the definition is open:
- Inside the kept clusters the draw is uniform over points (not per cluster), so big
  kept clusters get more picks, as in DataComp.
- If the kept clusters hold fewer than B points, all of them are taken and the rest
  is drawn uniformly from the points of the other clusters (the budget is always met).
- With noise, about half of the empty clusters get a positive score and are kept;
  ``tau`` is the knob against that (default 0, the definition as stated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import CloudView, Device, Selection, hookimpl

from .coverage import CoverageSampler, coverage_weights


@dataclass
class ClusterFilter(CoverageSampler):
    name: ClassVar[str] = "cluster-filter"
    description: ClassVar[str] = "DataComp-style filter: uniform draw from clusters with a positive noisy coverage (DP)"
    kind: ClassVar[str] = "private"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        sigma = self.noise_sigma(cloud.delta)
        cov = self.coverage(cloud, device, rng, sigma)
        keep = coverage_weights(cov.scores, self.tau, sigma) > 0
        inside = keep[cov.assign]
        kept_points = np.flatnonzero(inside)
        if len(kept_points) >= budget:
            picked = rng.choice(kept_points, size=budget, replace=False)
        else:
            rest = np.flatnonzero(~inside)
            picked = np.concatenate([kept_points, rng.choice(rest, size=budget - len(kept_points), replace=False)])
        return self.selection(picked, cov, sigma, kept_clusters=int(keep.sum()), kept_points=int(len(kept_points)))


@hookimpl
def proxybench_samplers():
    return [ClusterFilter]
