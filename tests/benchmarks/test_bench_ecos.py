"""ECOS selection end to end on synthetic pool features vs faiss k-means alone on the same matrix.

Full form: N = 1e4, 1e5, 1e6, d = 512, R = 100 and 1000, B = 1% of N. ``reduction="none"`` (the
default) clusters the 512-d features themselves; ``"random"`` projects them to 64-d first,
and k-means alone then runs on that projected matrix. Peak memory is the feature
matrix plus what selection allocates on top of it (tracemalloc, an extra untimed run; faiss's
own C++ buffers are not seen), relative to the feature matrix; the full form asserts < 2.
"""

from __future__ import annotations

import math

import faiss
import numpy as np
import pytest

from proxybench import CloudView, create_sampler
from proxybench.plugins.samplers.coverage import random_projection

from ..conftest import make_device
from .conftest import FULL, best_seconds, sizes, traced_peak

POOL_SIZES = sizes([2000], [10_000, 100_000, 1_000_000])
RS = sizes([20], [100, 1000])
D = sizes(64, 512)
KMEANS_ITERS = 20


def pool(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """n pool points in 50 unit-variance blobs (float32 throughout), and 1000 client points near 5 of them."""
    rng = np.random.default_rng(0)
    mus = rng.normal(0, 1, (50, d)).astype(np.float32)
    x = rng.standard_normal((n, d), dtype=np.float32)
    per = -(-n // 50)
    for k in range(50):
        x[k * per : (k + 1) * per] += mus[k]
    client = mus[rng.integers(0, 5, 1000)] + rng.standard_normal((1000, d), dtype=np.float32)
    return x, client


def kmeans_alone(x: np.ndarray, k: int) -> None:
    km = faiss.Kmeans(x.shape[1], k, niter=KMEANS_ITERS, seed=1, verbose=False,
                      max_points_per_centroid=math.ceil(len(x) / k) + 1, min_points_per_centroid=1)
    km.train(x)


@pytest.mark.parametrize("reduction", ["none", "random"])
@pytest.mark.parametrize("R", RS)
@pytest.mark.parametrize("n", POOL_SIZES)
def test_ecos_selection(benchmark, n, R, reduction):
    x, client = pool(n, D)
    budget = max(1, n // 100)
    sampler = create_sampler("ecos", R=R, reduction=reduction, kmeans_iters=KMEANS_ITERS)
    cloud = CloudView(features=x, images=None, labels=None, extractor=None)

    def select():
        return sampler.select(cloud, make_device(client), budget, np.random.default_rng(0))

    sel = benchmark.pedantic(select, rounds=sizes(3, 1))
    assert len(sel.indices) == budget
    _, extra = traced_peak(select)
    peak = x.nbytes + extra  # the feature matrix plus what selection allocates on top of it
    benchmark.extra_info.update(size=f"N={n} d={D} R={R} B={budget} reduction={reduction}",
                                peak_over_features=round(peak / x.nbytes, 2), step_seconds=sel.info["step_seconds"])
    if FULL:
        assert peak < 2 * x.nbytes
    if benchmark.disabled:
        return
    clustered = x if reduction == "none" else np.ascontiguousarray(x @ random_projection(D, sampler.dim, 0))
    km = best_seconds(lambda: kmeans_alone(clustered, R), sizes(3, 1))
    benchmark.extra_info.update(kmeans_alone_s=round(km, 4), select_over_kmeans=round(benchmark.stats.stats.min / km, 2))
