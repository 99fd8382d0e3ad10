"""ECOS's cloud-side steps in-process and on a dask cluster, each measurement in a process of its own.

``python -m tests.benchmarks.dask_scale ecos PATH B MAX_POINTS R [SCHEDULER]``: ECOS selects B
(``scale.ecos``), in this process or, given a scheduler address, with its cloud-side passes on
that cluster; prints JSON (seconds, step seconds, indices hash).
``python -m tests.benchmarks.dask_scale steps PATH MAX_POINTS R [SCHEDULER]``: the k-means
steps one at a time (sample gather, training, assignment pass) as ECOS runs them; prints JSON
with each step's seconds and the bytes it reads (counted from the rows it touches, not from
I/O counters: the store sits in the page cache, so a second read costs no disk at all).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from .scale import KMEANS_ITERS, ecos

PAGE = 4096


def pages_bytes(rows: np.ndarray, row_bytes: int) -> int:
    """Bytes of the distinct 4 KiB pages that hold ``rows`` (what gathering them reads from the store)."""
    first, last = rows * row_bytes // PAGE, ((rows + 1) * row_bytes - 1) // PAGE
    return int(len(np.union1d(first, last))) * PAGE


def steps(path: str, max_points: int, R: int, scheduler: str | None = None) -> dict:
    """Gather the k-means sample, train on it, assign every row: timed apart, with the same seed ECOS draws."""
    from proxybench.ml.cluster_pool import ClusterPool, npy_pieces
    from proxybench.ml.geometry import kmeans_sample, nearest_centroid, take_rows, train_kmeans
    from proxybench.util.dask_cluster import dask_client

    x = np.load(path, mmap_mode="r")
    n, d = x.shape
    seed = int(np.random.default_rng(0).integers(2**31))  # the k-means seed ECOS draws first (reduction none)
    rows = kmeans_sample(n, R, seed, max_points)
    out: dict = {"N": n, "d": d, "R": R, "M": len(rows), "workers": 1}

    def timed(name: str, fn):
        start = time.perf_counter()
        value = fn()
        out[f"{name}_s"] = time.perf_counter() - start
        return value

    if scheduler is None:
        train = timed("gather", lambda: take_rows(x, rows))
        centroids = timed("train", lambda: train_kmeans(train, R, seed, KMEANS_ITERS))
        labels = timed("assign", lambda: nearest_centroid(x, centroids)[0])
    else:
        with dask_client(scheduler) as client:
            pool = ClusterPool.from_pieces(npy_pieces(path, n), d, str(x.dtype), client)
            out["workers"] = len(client.nthreads())
            train = timed("gather", lambda: pool.take_rows(rows))
            centroids = timed("train", lambda: train_kmeans(train, R, seed, KMEANS_ITERS))
            labels = timed("assign", lambda: pool.assign(centroids))
    row_bytes = d * x.dtype.itemsize
    out.update(gather_bytes_read=pages_bytes(rows, row_bytes), assign_bytes_read=n * row_bytes,
               train_flops=2 * KMEANS_ITERS * len(rows) * R * d, assign_flops=2 * n * R * d,
               to_client_bytes=0 if scheduler is None else len(rows) * row_bytes + n * np.min_scalar_type(R - 1).itemsize,
               labels_sum=int(labels.sum()))
    return out


if __name__ == "__main__":
    command, path, *rest = sys.argv[1:]
    numbers = [int(float(v)) for v in rest if not v.startswith("tcp://")]
    scheduler = next((v for v in rest if v.startswith("tcp://")), None)
    if command == "ecos":
        if scheduler:
            os.environ["PROXYBENCH_SCHEDULER"] = scheduler
        print(json.dumps(ecos(path, *numbers)))
    else:
        print(json.dumps(steps(path, *numbers, scheduler=scheduler)))
