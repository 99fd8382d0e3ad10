"""``dsir``: importance resampling over ECOS's noisy cluster histogram.

Follows DSIR (Xie, Santurkar, Ma, Liang, "Data Selection for Language Models via
Importance Resampling", NeurIPS 2023), with ECOS's R k-means clusters as the feature
space instead of hashed n-grams. The device sends the same noisy coverage counts as
``ecos`` (``coverage.py``: same bytes, same epsilon); the target distribution over
clusters is p_client(r) ~ v~_r and the pool's is p_pool(r) = |C_r| / N, so the
importance weight of pool point i is w_i = max(v~_a(i), 0) / |C_a(i)| (zeroed below
``tau * sigma`` when tau > 0, as in ecos).

Choices where the definition is open:
- Sampling is without replacement by Gumbel top-k (keys log w_i + Gumbel noise), as
  DSIR does, so the expected share of cluster r follows v~_r.
- Points with zero weight (clusters whose noisy count is <= 0) only fill the budget
  when fewer than B points have positive weight; they are then drawn uniformly.
- No diversity step: what ecos adds on top (k-center) is what this baseline leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import CloudView, Device, Selection, hookimpl

from .coverage import CoverageSampler, coverage_weights


def gumbel_top_k(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct indices drawn without replacement with probability proportional to ``weights``.

    Zero-weight indices are used only when fewer than k weights are positive, uniformly.
    """
    positive = np.flatnonzero(weights > 0)
    keys = np.log(weights[positive]) + rng.gumbel(size=len(positive))
    if len(positive) >= k:
        return positive[np.argsort(-keys, kind="stable")[:k]]
    zero = np.flatnonzero(weights <= 0)
    return np.concatenate([positive, rng.choice(zero, size=k - len(positive), replace=False)])


@dataclass
class Dsir(CoverageSampler):
    name: ClassVar[str] = "dsir"
    description: ClassVar[str] = "DSIR-style importance resampling over ECOS's noisy cluster histogram, no diversity (DP)"
    kind: ClassVar[str] = "private"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        sigma = self.noise_sigma(cloud.delta)
        cov = self.coverage(cloud, device, rng, sigma)
        cluster_w = coverage_weights(cov.scores, self.tau, sigma)
        sizes = cov.sizes
        per_cluster = np.divide(cluster_w, sizes, out=np.zeros(cov.R), where=sizes > 0)
        weights = per_cluster[cov.assign]
        picked = gumbel_top_k(weights, budget, rng)
        return self.selection(picked, cov, sigma, positive_clusters=int((cluster_w > 0).sum()),
                              positive_weight_points=int((weights > 0).sum()))


@hookimpl
def proxybench_samplers():
    return [Dsir]
