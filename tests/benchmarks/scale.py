"""ECOS on a float16 memory-mapped pool, each measurement in a process of its own (its peak RSS is its own).

``python -m tests.benchmarks.scale make PATH N``: a store of N x 112 float16 rows in 50 blobs.
``python -m tests.benchmarks.scale ecos PATH B MAX_POINTS R``: ECOS selects B (k-means on a
MAX_POINTS sample); prints JSON with its seconds, step seconds, peak RSS and picks.
``python -m tests.benchmarks.scale reference PATH MAX_POINTS R``: faiss k-means on the same sample
(gathered untimed) plus one faiss assignment pass over all N; prints JSON with its seconds (and,
apart, the seconds of the numpy assignment pass ECOS itself uses).
"""

from __future__ import annotations

import hashlib
import json
import math
import resource
import sys
import time

import numpy as np

D, BLOBS, CLIENT_BLOBS, KMEANS_ITERS, CHUNK = 112, 50, 5, 20, 1 << 16


def blob_means() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 1, (BLOBS, D)).astype(np.float32)


def blob_of(rows: np.ndarray, n: int) -> np.ndarray:
    """The blob each row was drawn from: contiguous runs of n / BLOBS rows."""
    return rows * BLOBS // n


def make(path: str, n: int) -> None:
    """The store, written chunk by chunk: blob mean plus unit noise, rounded to float16."""
    mus, rng = blob_means(), np.random.default_rng(1)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, D))
    for s in range(0, n, CHUNK):
        rows = np.arange(s, min(n, s + CHUNK))
        out[s : s + len(rows)] = mus[blob_of(rows, n)] + rng.standard_normal((len(rows), D), dtype=np.float32)
    out.flush()


def peak_rss_bytes() -> int:
    """Peak RSS of this process's own address space: VmHWM, which exec starts afresh.

    ru_maxrss is not used for the figure: Linux carries the parent's high-water mark across
    fork and exec into it, so a child of a parent that once mapped the store would report the
    parent's peak (3.1 GB measured that way, before the store was made in a process of its own).
    """
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def ru_maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def ecos(path: str, budget: int, max_points: int, R: int) -> dict:
    from proxybench import CloudView, create_sampler
    from tests.conftest import make_device

    x = np.load(path, mmap_mode="r")
    mus = blob_means()
    rng = np.random.default_rng(2)
    client = mus[rng.integers(0, CLIENT_BLOBS, 1000)] + rng.standard_normal((1000, D), dtype=np.float32)
    sampler = create_sampler("ecos", R=R, kmeans_iters=KMEANS_ITERS, kmeans_max_points=max_points)
    cloud = CloudView(features=x, images=None, labels=None, extractor=None)
    device = make_device(client)
    before = peak_rss_bytes()
    start = time.perf_counter()
    sel = sampler.select(cloud, device, budget, np.random.default_rng(0))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss": peak_rss_bytes(), "ru_maxrss": ru_maxrss_bytes(), "rss_before_select": before,
            "step_seconds": sel.info["step_seconds"], "store_bytes": int(x.nbytes),
            "client_blob_share": float((blob_of(sel.indices, len(x)) < CLIENT_BLOBS).mean()),
            "indices_hash": hashlib.sha256(np.asarray(sel.indices, np.int64).tobytes()).hexdigest()[:16]}


def reference(path: str, max_points: int, R: int) -> dict:
    import faiss

    from proxybench.ml.geometry import nearest_centroid, release_pages, take_rows

    x = np.load(path, mmap_mode="r")
    seed = int(np.random.default_rng(0).integers(2**31))  # the k-means seed ECOS draws first (reduction none)
    train = take_rows(x, np.sort(np.random.default_rng(seed).choice(len(x), max_points, replace=False)))
    start = time.perf_counter()
    km = faiss.Kmeans(D, R, niter=KMEANS_ITERS, seed=seed, verbose=False,
                      max_points_per_centroid=math.ceil(len(train) / R) + 1, min_points_per_centroid=1)
    km.train(train)
    trained = time.perf_counter()
    for s in range(0, len(x), CHUNK):
        km.index.search(np.ascontiguousarray(x[s : s + CHUNK], dtype=np.float32), 1)
        release_pages(x, s, s + CHUNK)
    end = time.perf_counter()
    nearest_centroid(x, km.centroids)  # the numpy pass ECOS assigns with, for comparison (not in "seconds")
    return {"seconds": end - start, "kmeans_seconds": trained - start, "assign_seconds": end - trained,
            "assign_numpy_seconds": time.perf_counter() - end, "peak_rss": peak_rss_bytes()}


if __name__ == "__main__":
    command, path, *numbers = sys.argv[1:]
    args = [int(float(v)) for v in numbers]
    if command == "make":
        make(path, *args)
    else:
        print(json.dumps({"ecos": ecos, "reference": reference}[command](path, *args)))
