"""Big pools through `proxybench select`: a store of several shards is one memory map, and `--scheduler` runs ECOS's
pool passes on a dask cluster with the selection of the in-process select.

The 1e6-row measurement behind ``cluster_pool.store_rows``'s numbers built its store with
``synthetic_pool_store(folder, phi, 10**6, pool_store.ROWS_PER_SHARD)`` (16 shards of 512
float16 dims) and ran ``proxybench select --pool STORE --budget 1000 --backbone resnet10t
--weights file:PHI --feature-layer -1 --param R=100 --param kmeans_max_points=50000`` against
a loopback ``device serve --data`` of 60 images, with and without ``--scheduler local:2``.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from proxybench import ProxybenchError, kmeans
from proxybench.cli.app import main
from proxybench.contract.weights import PoolData, build_extractor
from proxybench.harness.cloud import pool_rows
from proxybench.ml.cluster_pool import SCHEDULER_ENV, connect, pool_on_cluster
from proxybench.ml.pool_store import PoolIdentity, PoolStore, files_text, open_pool_store, text_sha256, write_identity
from proxybench.ml.sharded_store import write_manifest, write_shard, write_sharded_store
from proxybench.util.cache import Cache

from .test_dask_ecos import cluster  # noqa: F401 (a fixture: two worker processes)
from .test_device_select import serve, write_images

distributed = pytest.importorskip("distributed")


def synthetic_pool_store(folder: Path, phi: Path, n: int, rows_per_shard: int, layer: int = -1,
                         dtype: str = "float16", blobs: int = 50, seed: int = 0) -> PoolStore:
    """n rows of phi's width in ``blobs`` Gaussian blobs, written shard by shard as `features extract` writes a store,
    under the identity of the phi `--backbone resnet10t --weights file:PHI --feature-layer LAYER` builds."""
    empty = PoolData(np.zeros((0, 1, 1, 3), np.uint8), np.zeros(0, np.int64), key={"pool": None})
    extractor = build_extractor("resnet10t", f"file:{phi}", empty, Cache(folder.parent / "phi-cache"), layer=layer)
    listing = files_text([f"fake/{i:07d}.jpg" for i in range(n)])
    write_identity(folder, PoolIdentity(str(folder.parent / "images"), n, text_sha256(listing), extractor.image_size,
                                        dtype, rows_per_shard, extractor.key), listing)
    rng = np.random.default_rng(seed)
    mus = rng.normal(0.0, 3.0, (blobs, extractor.dim)).astype(np.float32)
    shards = []
    for i, s in enumerate(range(0, n, rows_per_shard)):
        rows = min(rows_per_shard, n - s)
        x = mus[rng.integers(0, blobs, rows)] + rng.standard_normal((rows, extractor.dim), dtype=np.float32)
        shards.append(write_shard(folder, i, x.astype(dtype)))
    write_manifest(folder, shards, extractor.dim, dtype)
    return open_pool_store(folder)


def save_phi(path: Path) -> Path:
    """A seeded random resnet10t checkpoint: phi for both sides (`--weights file:PATH`)."""
    import timm
    import torch

    torch.manual_seed(0)
    torch.save(timm.create_model("resnet10t", num_classes=0).state_dict(), path)
    return path


def test_a_store_of_several_shards_is_one_memory_map_copied_once_into_the_cloud_cache(tmp_path):
    x = np.random.default_rng(0).standard_normal((5000, 8)).astype(np.float16)
    cache = tmp_path / "cloud"
    write_sharded_store(tmp_path / "store", x, rows_per_shard=1700)
    rows, images = pool_rows(tmp_path / "store", cache)
    assert images is None and isinstance(rows, np.memmap) and rows.mode == "r"
    np.testing.assert_array_equal(rows, x)
    (copy,) = (cache / "pool-rows").iterdir()
    assert Path(rows.filename) == copy.resolve()
    written = copy.stat().st_mtime_ns
    np.testing.assert_array_equal(pool_rows(tmp_path / "store", cache)[0], x)
    assert copy.stat().st_mtime_ns == written  # the second selection of the store reuses the copy
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ProxybenchError, match=r"cannot copy the pool store .* 3 shards into one memory map"):
        pool_rows(tmp_path / "store", tmp_path / "a-file")
    write_sharded_store(tmp_path / "one", x)
    one, _ = pool_rows(tmp_path / "one", tmp_path / "elsewhere")
    assert Path(one.filename).parent == (tmp_path / "one").resolve() and not (tmp_path / "elsewhere").exists()


def test_on_a_cluster_the_workers_read_the_store_shards_and_cluster_as_in_process(tmp_path, monkeypatch, cluster):  # noqa: F811
    """The copy's rows come from the shards, one block each (uneven shards against the chunking), to the same labels."""
    rng = np.random.default_rng(1)
    mus = rng.normal(0, 3, (20, 16)).astype(np.float32)
    x = (mus[rng.integers(0, 20, 30_000)] + rng.standard_normal((30_000, 16), dtype=np.float32)).astype(np.float16)
    store = write_sharded_store(tmp_path / "store", x, rows_per_shard=7000)
    rows, _ = pool_rows(tmp_path / "store", tmp_path / "cloud")
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
    with pool_on_cluster(rows) as pool:
        assert pool.array.chunks[0] == tuple(s.rows for s in store.shards)
        centroids, labels = pool.kmeans(25, seed=3, max_points=5000)
    ref_centroids, ref_labels = kmeans(rows, 25, seed=3, max_points=5000)
    np.testing.assert_array_equal(centroids, ref_centroids)
    np.testing.assert_array_equal(labels, ref_labels)


def start_local_cluster(answers: multiprocessing.Queue) -> None:
    """In a daemonic process (as the cloud process is): ``local:2`` starts thread workers."""
    with connect("local:2") as client:
        answers.put((client.scheduler.address, len(client.nthreads()), client.submit(sum, [1, 2]).result()))


def test_a_daemonic_process_starts_its_local_cluster_of_threads():
    ctx = multiprocessing.get_context("spawn")
    answers = ctx.Queue()
    process = ctx.Process(target=start_local_cluster, args=(answers,), daemon=True)
    process.start()
    address, workers, result = answers.get(timeout=120)
    process.join(timeout=60)
    assert address.startswith("tcp://127.0.0.1:") and workers == 2 and result == 3 and process.exitcode == 0


@pytest.fixture(scope="module")
def scale(tmp_path_factory):
    """phi, a 2000-row store of phi's width in 4 shards, and a device folder of 24 images."""
    root = tmp_path_factory.mktemp("scale")
    phi = save_phi(root / "phi.pt")
    synthetic_pool_store(root / "store", phi, 2000, 500)
    for k, cls in enumerate(("cat", "dog")):
        write_images(root / "device" / cls, "red", 12, seed=k)
    return root


def select_args(root: Path, address: str, out: Path, *extra: str) -> list[str]:
    """ECOS taking every pool row as a candidate (budget 1000, rho 2), at noise that cannot move the selection.

    At target_epsilon 100 the counts' noise sd is 0.095, and tau 5 puts the cut at 0.47: a cluster
    is positive exactly when the device has an image in it, unless the noise passes 5.3 sd (p ~
    1e-7 a cluster; a larger epsilon makes the device's PLD accounting take minutes). The quota
    then takes every row, and the picks depend on the centroids alone, not on the device's
    noise, which a fresh secret per session draws anew.
    """
    return ["select", "--pool", str(root / "store"), "--device-address", address, "--out", str(out),
            "--budget", "1000", "--backbone", "resnet10t", "--weights", f"file:{root / 'phi.pt'}",
            "--feature-layer", "-1", "--cache-dir", str(root / "cache"), "--param", "R=8", "--param", "rho=2",
            "--param", "target_epsilon=100", "--param", "tau=5", "--param", "kmeans_max_points=1500", *extra]


def selected(out: Path) -> tuple[list[str], dict, dict]:
    """The files, the sampler's record and the cloud's confinement record of a selection."""
    summary = json.loads(out.with_suffix(".json").read_text())
    return [r["file"] for r in csv.DictReader(open(out))], summary["sampler_info"], summary["sandbox"]["cloud"]


def test_select_on_a_local_cluster_selects_the_files_of_the_in_process_select(scale, tmp_path, monkeypatch):
    """In process, on `--scheduler local:2` (worker processes of the command) and on `$PROXYBENCH_SCHEDULER=local:2`
    (thread workers of the daemonic cloud process): the same files, clusters and counts."""
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    proc, address = serve(scale, tmp_path / "ledger.json", sessions=3, epsilon=1000)
    try:
        assert main(select_args(scale, address, tmp_path / "here.csv")) == 0
        assert main(select_args(scale, address, tmp_path / "there.csv", "--scheduler", "local:2")) == 0
        monkeypatch.setenv(SCHEDULER_ENV, "local:2")
        assert main(select_args(scale, address, tmp_path / "env.csv")) == 0
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert len(list((scale / "cache" / "cloud" / "pool-rows").glob("*.npy"))) == 1  # 4 shards: one copy, reused
    files, info, _ = selected(tmp_path / "here.csv")
    assert len(files) == 1000 and info["candidates"] == 2000 and 0 < info["positive_clusters"] < 8
    for other in ("there.csv", "env.csv"):
        other_files, other_info, sandbox = selected(tmp_path / other)
        # the cloud had the scheduler: its confinement left TCP open to reach it (where Landlock confines at all)
        assert sandbox["mechanism"] == "none" or "tcp (left open by the policy)" in sandbox["unenforced"]
        assert other_files == files
        assert other_info["cluster_sizes"] == info["cluster_sizes"]
        assert np.round(other_info["scores"]).tolist() == np.round(info["scores"]).tolist()


def test_select_teaches_the_scheduler_and_a_bad_one_is_one_line(scale, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    with pytest.raises(SystemExit):
        main(["select", "--help"])
    assert "--scheduler tcp://HOST:PORT|local[:WORKERS]" in capsys.readouterr().out
    for bad, said in [("local:0", "expected tcp://HOST:PORT, local or local:WORKERS"),
                      ("tcp://127.0.0.1:1", "cannot use the dask scheduler 'tcp://127.0.0.1:1'")]:
        assert main(select_args(scale, "127.0.0.1:1", tmp_path / "no.csv", "--scheduler", bad)) == 2
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and err.count("proxybench: error:") == 1
    assert not os.path.exists(tmp_path / "no.csv")
