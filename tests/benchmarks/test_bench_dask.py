"""ECOS's cloud side on a 2-worker dask LocalCluster against the same selection in one process.

The in-process 1e7 benchmark of ``test_bench_scale.py`` (N x 112 float16 store in 50 blobs,
R = 100, B = N / 1000, k-means on an N / 10 sample), run twice side by side: in a process of its
own, and with its k-means sample gather and assignment pass on a LocalCluster of 2 one-thread
worker processes (``PROXYBENCH_SCHEDULER``). Asserted: the same selected indices. Reported in
``extra_info``: both wall times and their ratio, and (full form) each k-means step timed apart
(``dask_scale.py steps``) with the bytes it reads: the measurements docs/scale.md's cost model
is fitted on. Tiny form N = 2e4, in this process; full form N = 1e5, 1e6, 1e7.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import dask_scale
from . import scale as scale_module
from .conftest import FULL, sizes

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
POOL_SIZES = sizes([20_000], [100_000, 1_000_000, 10_000_000])
R = 100


@pytest.fixture(scope="module")
def cluster():
    """Two one-thread worker processes that have imported proxybench (the measured calls are the steady state)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=40) as cluster, distributed.Client(cluster) as c:
        start = time.perf_counter()
        c.run(importlib.import_module, "proxybench.ml.cluster_pool")
        cluster.warmup_s = time.perf_counter() - start
        yield cluster


def measure(module, command: str, *args: object) -> dict:
    """One command of ``scale.py`` / ``dask_scale.py``: a fresh interpreter in the full form, this process when tiny."""
    if not FULL:
        scheduler = next((a for a in args if str(a).startswith("tcp://")), None)
        numbers = [a for a in args if a is not scheduler]
        old = os.environ.pop("PROXYBENCH_SCHEDULER", None)
        try:
            if command == "steps":
                return dask_scale.steps(*numbers, scheduler=scheduler)
            if scheduler:
                os.environ["PROXYBENCH_SCHEDULER"] = scheduler
            return getattr(module, command)(*numbers)
        finally:
            os.environ.pop("PROXYBENCH_SCHEDULER", None)
            if old is not None:
                os.environ["PROXYBENCH_SCHEDULER"] = old
    out = subprocess.run([sys.executable, "-m", module.__name__, command, *map(str, args)], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else {}


@pytest.mark.parametrize("n", POOL_SIZES)
def test_ecos_on_a_local_cluster_against_in_process(benchmark, tmp_path, cluster, n):
    store = tmp_path / "pool.npy"
    measure(scale_module, "make", store, n)
    budget, max_points, address = n // 1000, n // 10, cluster.scheduler_address
    try:
        on_cluster = benchmark.pedantic(lambda: measure(dask_scale, "ecos", store, budget, max_points, R, address),
                                        rounds=1)
        here = measure(dask_scale, "ecos", store, budget, max_points, R)
        assert on_cluster["indices_hash"] == here["indices_hash"]  # the same selection
        assert on_cluster["client_blob_share"] > 0.5
        benchmark.extra_info.update(
            size=f"N={n} d=112 float16 R={R} B={budget} kmeans_max_points={max_points}", workers=2,
            worker_import_s=round(cluster.warmup_s, 1),
            cluster_s=round(on_cluster["seconds"], 2), in_process_s=round(here["seconds"], 2),
            cluster_over_in_process=round(on_cluster["seconds"] / here["seconds"], 2),
            cluster_step_seconds=on_cluster["step_seconds"], in_process_step_seconds=here["step_seconds"],
            indices_hash=here["indices_hash"])
        if FULL:
            benchmark.extra_info.update(steps_in_process=measure(dask_scale, "steps", store, max_points, R),
                                        steps_cluster=measure(dask_scale, "steps", store, max_points, R, address))
            assert benchmark.extra_info["steps_in_process"]["labels_sum"] == \
                benchmark.extra_info["steps_cluster"]["labels_sum"]
    finally:
        store.unlink(missing_ok=True)
