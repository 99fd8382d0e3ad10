"""The sharded feature store (round trip, manifest checks) and phi's extraction over image shards on dask workers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from proxybench import ProxybenchError, create_backbone
from proxybench.ml.extractor import Extractor
from proxybench.ml.sharded_store import MANIFEST, open_store, write_sharded_store


@pytest.fixture
def store_rows():
    return np.random.default_rng(0).standard_normal((1000, 7)).astype(np.float16)


def test_round_trip_through_memory_maps_and_dask(tmp_path, store_rows):
    store = write_sharded_store(tmp_path / "s", store_rows, rows_per_shard=300)
    assert [s.rows for s in store.shards] == [300, 300, 300, 100] and store.shape == (1000, 7)
    assert store.dtype == "float16" and isinstance(store.shard(1), np.memmap)
    np.testing.assert_array_equal(np.concatenate([store.shard(i) for i in range(4)]), store_rows)
    rows = np.array([0, 299, 300, 301, 650, 999])
    np.testing.assert_array_equal(store.take_rows(rows), store_rows[rows].astype(np.float32))
    array = store.to_dask()
    assert array.chunks[0] == (300, 300, 300, 100)
    np.testing.assert_array_equal(array.compute(scheduler="synchronous"), store_rows)
    again = open_store(tmp_path / "s", verify=True)
    assert again == store
    other = write_sharded_store(tmp_path / "t", store_rows + 1, rows_per_shard=300)
    assert other.content_hash != store.content_hash  # the identity is the content


def manifest_of(folder):
    return json.loads((folder / MANIFEST).read_text())


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m.update(dtype="int8"), r"dtype must be one of \('float16', 'float32'\), got 'int8'"),
    (lambda m: m.update(d=0), "d must be a positive integer, got 0"),
    (lambda m: m.update(version=7), "version 7 is not supported"),
    (lambda m: m.update(format="zarr"), "format is 'zarr'"),
    (lambda m: m.update(rows=5), "rows is 5, but the shards hold 1000"),
    (lambda m: m["shards"][1].update(rows=299),
     r"shard 1 \(shard-00001.npy\) holds \(300, 7\) float16, the manifest says \(299, 7\)"),
    (lambda m: m["shards"][0].update(file="../x.npy"), "shard 0 file '../x.npy' must be a name inside"),
    (lambda m: m["shards"][2].update(file="gone.npy"), "shard 2 file 'gone.npy' is missing"),
    (lambda m: m["shards"][0].update(sha256="0" * 64), "content_hash '[0-9a-f]+' != [0-9a-f]+"),
    (lambda m: m.update(shards=[]), "shards must be a non-empty list"),
])
def test_a_bad_manifest_names_the_bad_value(tmp_path, store_rows, edit, message):
    folder = tmp_path / "s"
    write_sharded_store(folder, store_rows, rows_per_shard=300)
    m = manifest_of(folder)
    edit(m)
    (folder / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ProxybenchError, match=message):
        open_store(folder)


def test_a_rewritten_shard_is_caught_by_verify_and_a_missing_manifest_is_named(tmp_path, store_rows):
    folder = tmp_path / "s"
    write_sharded_store(folder, store_rows, rows_per_shard=300)
    np.save(folder / "shard-00003.npy", store_rows[:100] * 2)  # same shape and dtype, other bytes
    open_store(folder)  # shapes still agree: only the bytes tell
    with pytest.raises(ProxybenchError, match=r"shard 3 \(shard-00003.npy\) SHA-256 [0-9a-f]+ != manifest"):
        open_store(folder, verify=True)
    with pytest.raises(ProxybenchError, match="no manifest.json"):
        open_store(tmp_path)


def test_extraction_over_image_shards_on_two_dask_workers(tmp_path):
    """Each image shard's features come from a worker, equal to phi run here, in shard order."""
    distributed = pytest.importorskip("distributed")
    from proxybench.ml.shard_extraction import extract_image_shards

    phi = create_backbone("test_efficientnet")
    extractor = Extractor(phi, 32, (0.5,) * 3, (0.5,) * 3, {"backbone": "test_efficientnet"}, layer=1, batch_size=16)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    paths = []
    for i, (s, e) in enumerate([(0, 20), (20, 23), (23, 50)]):
        paths.append(tmp_path / f"images-{i}.npy")
        np.save(paths[-1], images[s:e])
    with distributed.Client(distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                                     dashboard_address=None, silence_logs=40)) as client:
        store = extract_image_shards(extractor, paths, tmp_path / "features", client)
        assert len(client.nthreads()) == 2
    assert [s.rows for s in store.shards] == [20, 3, 27] and store.d == extractor.dim
    reopened = open_store(tmp_path / "features", verify=True)
    here = extractor.extract(images)
    np.testing.assert_allclose(np.concatenate([reopened.shard(i) for i in range(3)]), here, rtol=1e-5, atol=1e-5)
    with pytest.raises(ProxybenchError, match="dtype must be one of"):
        extract_image_shards(extractor, paths, tmp_path / "f2", client=None, dtype="int8")
