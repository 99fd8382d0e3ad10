"""``ecos``: Efficient Collaborative Open-source Sampling (Hong, Lyu, Zhou, Spranger, NeurIPS 2022).

How each step maps to the paper, and what this implementation chooses where the paper
leaves it open (the measurements behind the defaults: docs/ecos-ablation.md):

0. *Low-dimensional centroid features.* The paper sends "compressed" centroids. Here:
   ``reduction="random"`` projects phi to ``dim`` dimensions with a Gaussian matrix
   generated from a seed that is sent down (8 bytes, the device regenerates the
   matrix); ``"pca"`` fits PCA on the pool and sends its matrix and mean (counted);
   ``"none"`` keeps phi's full width.
1. *Cloud clustering.* faiss k-means with ``R`` centroids over every pool point
   (faiss's default 256-points-per-centroid subsample is switched off); optional
   spherical k-means. Only when asked, ``kmeans_max_points`` > 0 caps the k-means
   training set at that many uniformly drawn pool points (for pools of millions); every
   point is still assigned to its nearest centroid. The default 0 means all points.
2. *Downlink.* The R centroids, float32 or float16 (``dtype``).
3. *Device: centroid coverage.* The device program gives each private point its nearest
   centroid; the device runtime's ``GaussianHistogram`` counts them per original record
   (an image and its augmentations), clips each record's count vector to ``unit_bound``
   (1: one record moves the counts by at most 1), sums, and adds N(0, sigma^2) per count.
   L2 sensitivity ``unit_bound`` under add/remove-one adjacency, sqrt(2) of it under
   replace-one (``adjacency``). ``target_epsilon`` converts to sigma with dp-accounting.
   Uplink: R float32 numbers.
4. *Cloud: proximity.* w_r = max(v~_r, 0), zeroed below ``tau * sigma``. A candidate
   quota M = rho * B is split over clusters in proportion to w_r (largest remainder,
   capped by cluster size, overflow redistributed). Choices the paper leaves open:
   candidates inside a cluster are a uniform draw (``candidates="uniform"``) or the
   m_r points nearest the centroid (``"nearest"``); when positive clusters cannot hold
   M points, or every weight is zero (all counts drowned in noise), the rest of the
   quota is spread uniformly over the other clusters, so the budget is always met.
5. *Cloud: diversity.* Greedy k-center over the candidates, in the clustering space,
   with the already-covered set initialised to the centroids of w_r > 0 (a
   privacy-safe stand-in for the private data): proximity plus diversity, as in the
   paper's objective. ``diversity=False`` skips it (then M = B).

Steps 0-3 (and the parameters R, dim, reduction, sigma, target_epsilon, adjacency, tau,
dtype, spherical, kmeans_iters, kmeans_max_points) live in ``coverage.py``, shared with ``dsir`` and
``cluster-filter`` so the three spend exactly the same bytes and epsilon. Before a run's work, ``check_sizes``
refuses an R above the pool and warns when the device's records per cluster are small against sigma: how to
size R, sigma, tau and the budget for a pool and a device is docs/sizing-ecos.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from proxybench import CloudView, Device, ProxybenchError, Selection, greedy_kcenter, hookimpl, largest_remainder

from .coverage import CoverageSampler, coverage_weights


def cluster_members(assign: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every point grouped by cluster, ascending within each, by one stable argsort (not one scan per cluster).

    Cluster r's members are ``order[ends[r] - sizes[r] : ends[r]]``. The labels are sorted in the
    narrowest integer type that holds them, so numpy's stable sort is a radix sort: O(N), not O(N R).
    """
    order = np.argsort(assign.astype(np.min_scalar_type(max(len(sizes) - 1, 0))), kind="stable")
    return order, np.cumsum(sizes)


@dataclass
class Ecos(CoverageSampler):
    name: ClassVar[str] = "ecos"
    description: ClassVar[str] = "ECOS: noisy centroid coverage from the device, then near-and-diverse sampling (DP)"
    kind: ClassVar[str] = "private"

    rho: float = 2.0
    candidates: Literal["uniform", "nearest"] = "uniform"
    diversity: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rho < 1:
            raise ProxybenchError(f"ecos: rho must be >= 1 (candidates >= budget), got {self.rho}")

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        sigma = self.noise_sigma(cloud.delta)
        cov = self.coverage(cloud, device, rng, sigma)
        weights = coverage_weights(cov.scores, self.tau, sigma)
        picked, n_cand = self.near_and_diverse(cov.x, cov.centroids, cov.assign, weights, budget, rng, cov.times)
        return self.selection(picked, cov, sigma, positive_clusters=int((weights > 0).sum()), candidates=n_cand)

    def near_and_diverse(self, x: np.ndarray, centroids: np.ndarray, assign: np.ndarray, weights: np.ndarray,
                         budget: int, rng: np.random.Generator, times: dict[str, float]) -> tuple[np.ndarray, int]:
        """Steps 4-5: a candidate quota by cluster weight, then greedy k-center from the positive centroids."""
        t = time.perf_counter()
        n, R = len(x), len(centroids)
        sizes = np.bincount(assign, minlength=R)
        quota = budget if not self.diversity else min(n, max(budget, int(round(self.rho * budget))))
        alloc = largest_remainder(weights, quota, sizes)
        short = quota - int(alloc.sum())
        if short > 0:  # positive clusters are full or all scores are zero: spread the rest uniformly
            alloc += largest_remainder(np.where(alloc < sizes, 1.0, 0.0), short, sizes - alloc)
        members, ends = cluster_members(assign, sizes)
        cands = []
        for r in np.flatnonzero(alloc):
            pts = members[ends[r] - sizes[r] : ends[r]]
            if self.candidates == "nearest":
                dist = ((x[pts] - centroids[r]) ** 2).sum(1)
                cands.append(pts[np.argsort(dist, kind="stable")[: alloc[r]]])
            else:
                cands.append(rng.choice(pts, size=alloc[r], replace=False))
        cand = np.sort(np.concatenate(cands))
        times["proximity"] = time.perf_counter() - t

        t = time.perf_counter()
        if self.diversity and len(cand) > budget:
            covered = centroids[weights > 0]
            if len(covered):
                picked = cand[greedy_kcenter(x, budget, covered=covered, subset=cand)]
            else:
                picked = cand[greedy_kcenter(x, budget, first=int(rng.integers(len(cand))), subset=cand)]
        else:
            picked = cand[:budget] if len(cand) > budget else cand
        times["diversity"] = time.perf_counter() - t
        return picked, int(len(cand))


@hookimpl
def proxybench_samplers():
    return [Ecos]
