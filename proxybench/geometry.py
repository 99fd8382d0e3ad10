"""Distance work shared by samplers: k-means, nearest centroids, greedy k-center.

None of it materialises an N x N matrix: distances are taken in row chunks against
a small set (centroids, one new center).
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from .errors import ProxybenchError


def nearest_centroid(x: np.ndarray, centroids: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Index of and squared distance to the nearest centroid for each row of ``x``."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    c = np.ascontiguousarray(centroids, dtype=np.float32)
    c_sq = (c * c).sum(1)
    assign = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float32)
    for s in range(0, len(x), chunk):
        xb = x[s : s + chunk]
        d = (xb * xb).sum(1, keepdims=True) - 2.0 * xb @ c.T + c_sq
        assign[s : s + chunk] = d.argmin(1)
        dist[s : s + chunk] = np.maximum(d[np.arange(len(xb)), assign[s : s + chunk]], 0.0)
    return assign, dist


def kmeans(
    x: np.ndarray, k: int, seed: int, niter: int = 20, spherical: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """faiss k-means over *all* points (no silent subsampling); returns centroids and assignments."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    if not 1 <= k <= n:
        raise ProxybenchError(f"k-means needs 1 <= k <= number of points ({n}), got k={k}")
    km = faiss.Kmeans(
        d, k, niter=niter, seed=int(seed), spherical=spherical, verbose=False,
        max_points_per_centroid=math.ceil(n / k) + 1,  # faiss otherwise samples 256*k points
        min_points_per_centroid=1,
    )
    km.train(x)
    centroids = km.centroids.copy()
    assign, _ = nearest_centroid(x, centroids)
    return centroids, assign


def greedy_kcenter(
    x: np.ndarray,
    budget: int,
    covered: np.ndarray | None = None,
    first: int | None = None,
) -> np.ndarray:
    """Greedy k-center (farthest-first traversal) over the rows of ``x``.

    Starts from the points in ``covered`` (not selectable, e.g. centroids) or, when
    none are given, from row ``first``, which then counts toward the budget.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    if not 1 <= budget <= n:
        raise ProxybenchError(f"k-center budget must be in 1..{n}, got {budget}")
    x_sq = (x * x).sum(1)
    min_d = np.full(n, np.inf, dtype=np.float32)
    chosen = np.empty(budget, dtype=np.int64)
    taken = np.zeros(n, dtype=bool)
    start = 0
    if covered is not None and len(covered):
        _, min_d = nearest_centroid(x, covered)
    else:
        if first is None:
            raise ProxybenchError("greedy_kcenter needs covered points or a first center")
        chosen[0] = first
        start = 1
        min_d = np.maximum(x_sq - 2.0 * x @ x[first] + x_sq[first], 0.0)
        taken[first] = True
    for i in range(start, budget):
        scores = np.where(taken, -np.inf, min_d)
        j = int(scores.argmax())
        chosen[i] = j
        taken[j] = True
        np.minimum(min_d, np.maximum(x_sq - 2.0 * x @ x[j] + x_sq[j], 0.0), out=min_d)
    return chosen


def largest_remainder(weights: np.ndarray, total: int, caps: np.ndarray) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights``, none above its cap.

    Largest-remainder rounding; what a capped bin cannot take is redistributed over
    the bins with room, in proportion to their weights, until nothing is left or no
    positive-weight bin has room.
    """
    weights = np.asarray(weights, dtype=np.float64)
    caps = np.asarray(caps, dtype=np.int64)
    alloc = np.zeros(len(weights), dtype=np.int64)
    remaining = int(total)
    while remaining > 0:
        open_ = (alloc < caps) & (weights > 0)
        if not open_.any():
            break
        w = np.where(open_, weights, 0.0)
        share = w / w.sum() * remaining
        base = np.floor(share).astype(np.int64)
        rest = remaining - int(base.sum())
        order = np.argsort(-(share - base), kind="stable")
        base[order[:rest]] += 1
        base = np.minimum(base, caps - alloc)
        if base.sum() == 0:
            break
        alloc += base
        remaining -= int(base.sum())
    return alloc
