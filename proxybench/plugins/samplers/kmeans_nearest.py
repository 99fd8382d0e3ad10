"""``kmeans-nearest``: k-means with B clusters, then the pool point nearest each centroid.

The k-medoid-style representative baseline (e.g. the "typical"/cluster-centre picks of
Hacohen et al., ICML 2022, and the k-means baselines of the coreset literature):
client-free, it spreads the budget over the pool's modes in proportion to density.

Choices where the definition is open:
- faiss k-means over every pool point (``kmeans``), Euclidean, on the unreduced phi;
  seed drawn from ``rng``.
- Uniqueness: centroids are served in order of their distance to their own nearest
  point (closest first); a centroid whose nearest point is already taken gets its
  next nearest unused point. So exactly B distinct points.
- B equal to the pool size returns the whole pool without clustering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import faiss
import numpy as np

from proxybench import CloudView, Device, Sampler, Selection, hookimpl, kmeans


def unique_nearest(pool: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """One distinct pool point per centroid: its nearest, or the next nearest unused one."""
    index = faiss.IndexFlatL2(pool.shape[1])
    index.add(np.ascontiguousarray(pool, dtype=np.float32))
    q = np.ascontiguousarray(centroids, dtype=np.float32)
    n, m = len(pool), len(q)
    k = min(n, 8)
    dist, nbrs = index.search(q, k)
    order = np.argsort(dist[:, 0], kind="stable")
    taken = np.zeros(n, dtype=bool)
    picked = np.empty(m, dtype=np.int64)
    for c in order:
        row, kc = nbrs[c], k
        while True:
            j = next((int(j) for j in row if j >= 0 and not taken[j]), -1)
            if j >= 0:
                break
            kc = min(n, 2 * kc)  # all kc neighbours taken: look further (kc = n always has a free one)
            row = index.search(q[c : c + 1], kc)[1][0]
        picked[c] = j
        taken[j] = True
    return picked


@dataclass
class KMeansNearest(Sampler):
    name: ClassVar[str] = "kmeans-nearest"
    description: ClassVar[str] = "k-means with B clusters; the pool point nearest each centroid (client-free)"
    kind: ClassVar[str] = "client-free"

    spherical: bool = False
    kmeans_iters: int = 20

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        if budget == cloud.size:
            return Selection(indices=np.arange(cloud.size))
        centroids, _ = kmeans(cloud.features, budget, seed=int(rng.integers(2**31)), niter=self.kmeans_iters,
                              spherical=self.spherical)
        return Selection(indices=np.sort(unique_nearest(cloud.features, centroids)))


@hookimpl
def proxybench_samplers():
    return [KMeansNearest]
