"""ECOS's cloud side on a dask LocalCluster of 2 workers: the same selection as in this process, for the same spec and seed."""

from __future__ import annotations

import numpy as np
import pytest

from proxybench import CloudView, ProxybenchError, create_sampler, kmeans
from proxybench.ml import cluster_pool
from proxybench.ml.cluster_pool import SCHEDULER_ENV, ClusterPool, pool_on_cluster
from proxybench.ml.sharded_store import write_sharded_store

from .conftest import make_device

distributed = pytest.importorskip("distributed")

D = 16


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each, as `proxybench run --scheduler local:2` would start."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=40) as cluster:
        yield cluster


def blob_store(path, n, seed=0):
    """n x 16 float16 rows in 20 blobs, as a .npy that the workers open themselves."""
    rng = np.random.default_rng(seed)
    mus = rng.normal(0, 3, (20, D)).astype(np.float32)
    x = (mus[rng.integers(0, 20, n)] + rng.standard_normal((n, D), dtype=np.float32)).astype(np.float16)
    np.save(path, x)
    return np.load(path, mmap_mode="r"), mus


def select(x, mus, **params):
    client = mus[np.random.default_rng(5).integers(0, 3, 300)] + np.random.default_rng(6).standard_normal((300, D))
    sampler = create_sampler("ecos", **params)
    cloud = CloudView(features=x, images=None, labels=None, extractor=None)
    device = make_device(client.astype(np.float32))
    sel = sampler.select(cloud, device, 200, np.random.default_rng(0))
    return sel, device.ledger


@pytest.mark.parametrize("params", [dict(R=30, kmeans_max_points=12_000), dict(R=8, candidates="nearest")])
def test_ecos_selects_the_same_indices_in_process_and_on_the_cluster(tmp_path, monkeypatch, cluster, params):
    """120,000 rows in 4 blocks of 32768 (the large-pool chunking), sampled k-means and k-means on every row."""
    x, mus = blob_store(tmp_path / "pool.npy", 120_000)
    here, here_ledger = select(x, mus, **params)
    monkeypatch.setattr(cluster_pool, "ROWS_PER_BLOCK", 1 << 15)
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
    there, there_ledger = select(x, mus, **params)
    np.testing.assert_array_equal(here.indices, there.indices)
    assert here.info["cluster_sizes"] == there.info["cluster_sizes"] and here.info["scores"] == there.info["scores"]
    assert here_ledger.to_record() == there_ledger.to_record()  # the device saw exactly the same messages


def test_a_sharded_store_with_uneven_shards_gives_the_in_process_kmeans(tmp_path, cluster):
    """Shard edges that are not chunk edges (7000-row shards against 2048-row chunks) move no label."""
    x, _ = blob_store(tmp_path / "pool.npy", 30_000, seed=1)
    store = write_sharded_store(tmp_path / "store", x, rows_per_shard=7000)
    with distributed.Client(cluster) as client:
        pool = ClusterPool.from_pieces(store.pieces(), store.d, store.dtype, client)
        centroids, labels = pool.kmeans(25, seed=3, max_points=5000)
        rows = np.array([3, 6999, 7000, 29_999])
        np.testing.assert_array_equal(pool.take_rows(rows), x[rows].astype(np.float32))
    ref_centroids, ref_labels = kmeans(x, 25, seed=3, max_points=5000)
    np.testing.assert_array_equal(centroids, ref_centroids)
    np.testing.assert_array_equal(labels, ref_labels)


def test_what_the_cluster_path_refuses(tmp_path, monkeypatch):
    x, mus = blob_store(tmp_path / "pool.npy", 2000)
    monkeypatch.setenv(SCHEDULER_ENV, "local:two")
    with pytest.raises(ProxybenchError, match="expected tcp://HOST:PORT, local or local:WORKERS"):
        select(x, mus, R=5)
    monkeypatch.setenv(SCHEDULER_ENV, "local:1")
    with pytest.raises(ProxybenchError, match="not a whole memory-mapped .npy"), pool_on_cluster(np.asarray(x[:10])):
        pass
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://127.0.0.1:1")
    with pytest.raises(ProxybenchError, match="cannot use the dask scheduler 'tcp://127.0.0.1:1'"):
        select(x, mus, R=5)


def test_run_help_teaches_the_scheduler_and_a_bad_one_is_one_line(capsys, monkeypatch):
    from proxybench.cli.app import main

    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--scheduler tcp://HOST:PORT|local[:WORKERS]" in capsys.readouterr().out
    for bad, said in [("tcp://127.0.0.1:1", "cannot use the dask scheduler 'tcp://127.0.0.1:1'"),
                      ("local:0", "expected tcp://HOST:PORT, local or local:WORKERS")]:
        assert main(["run", "--sampler", "ecos", "--scheduler", bad]) == 2
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_default_ecos_run_selects_the_same_on_a_local_cluster(tmp_path, monkeypatch):
    """The main job's selection on `--scheduler local:2`: the indices hash of the in-process run.

    The task does not touch the selection (same scenario, same seed), so a one-epoch outsource
    stands in for the main job's autolabel: the check costs a selection, not a training. Both
    runs share one cache, so one device secret: the same noise.
    """
    import json

    from proxybench.cli.app import main

    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    monkeypatch.setenv("PROXYBENCH_PROGRESS", "0")
    hashes = []
    for where in ([], ["--scheduler", "local:2"]):
        out = tmp_path / ("cluster" if where else "local")
        assert main(["run", "--sampler", "ecos", "--task", "outsource", "--param", "epochs=1", *where,
                     "--results-dir", str(out)]) == 0
        (path,) = out.glob("*.json")
        hashes.append(json.loads(path.read_text())["selection"]["indices_hash"])
    assert hashes[0] == hashes[1]
