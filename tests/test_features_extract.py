"""``proxybench features extract``: a folder of images into a pool store, resumable, refusing what it did not make."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from proxybench import ProxybenchError
from proxybench.cli import main
from proxybench.ml import pool_extraction
from proxybench.ml.sharded_store import MANIFEST

PHI = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "16"]


def make_pool(root, n=60, seed=0):
    """``n`` PNGs of assorted sizes in two class folders and the top level (the class folders must not matter)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / ("cats" if i % 3 == 0 else "dogs" if i % 3 == 1 else ".")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (12 + i % 9, 10 + i % 5, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:03d}.png")
    (root / "notes.txt").write_text("not an image")
    return root


def extract(pool, out, *extra):
    return main(["features", "extract", "--pool", str(pool), "--out", str(out), *PHI, "--rows-per-shard", "25", *extra])


@pytest.fixture
def calls(monkeypatch):
    """The shard files phi is run into, in order (every in-process shard goes through ``extract_to_npy``)."""
    made = []
    real = pool_extraction.extract_to_npy

    def counted(extractor, images, path, dtype):
        made.append(path.name)
        real(extractor, images, path, dtype)

    monkeypatch.setattr(pool_extraction, "extract_to_npy", counted)
    return made


def in_process_features(pool, store):
    """phi built here the way the command builds it, run over the same files decoded here."""
    from proxybench.cli.features import folder_pool_data
    from proxybench.contract.weights import build_extractor
    from proxybench.ml.image_files import decode_images
    from proxybench.util.cache import Cache

    ident = store.identity
    phi = build_extractor("resnet10t", "random", folder_pool_data(store.root, store.files, ident.files_sha256, 16),
                          Cache(), layer=3)
    store.check_extractor(phi.key)  # the very phi the store was made by
    return phi, phi.extract(decode_images([pool / f for f in store.files], 16))


def test_a_folder_becomes_a_store_whose_rows_are_its_files_through_phi(tmp_path, calls):
    from proxybench.ml.pool_store import open_pool_store

    pool = make_pool(tmp_path / "pool")
    assert extract(pool, tmp_path / "store", "--dtype", "float16") == 0
    store = open_pool_store(tmp_path / "store", verify=True)
    expected = sorted(p.relative_to(pool).as_posix() for p in pool.rglob("*.png"))
    assert store.files == tuple(expected) and store.store.rows == 60 and store.root == pool.resolve()
    assert [s.rows for s in store.store.shards] == [25, 25, 10] and calls == [f"shard-0000{i}.npy" for i in range(3)]
    assert store.identity.dtype == store.store.dtype == "float16" and store.identity.image_size == 16
    assert store.identity.extractor["backbone"] == "resnet10t" and store.identity.extractor["layer"] == 3
    assert "cats" not in json.dumps(store.identity.extractor)  # nothing about class folders is recorded
    phi, here = in_process_features(pool, store)
    rows = store.store.take_rows(np.arange(60))
    np.testing.assert_allclose(rows, here.astype(np.float16).astype(np.float32), rtol=2e-3, atol=2e-3)
    with pytest.raises(ProxybenchError, match=r"made by another phi \(phi layer: stored 3, asked -1\)"):
        store.check_extractor({**phi.key, "layer": -1})


def test_a_killed_extraction_resumes_from_the_shards_that_still_hash_right(tmp_path, calls):
    from proxybench.ml.pool_store import open_pool_store

    pool, out = make_pool(tmp_path / "pool"), tmp_path / "store"
    assert extract(pool, out) == 0
    before = open_pool_store(out).store
    calls.clear()
    (out / MANIFEST).unlink()  # killed before the manifest: every shard is kept
    with pytest.raises(ProxybenchError, match="did not finish"):
        open_pool_store(out)
    assert extract(pool, out) == 0 and calls == []
    (out / "shard-00001.npy").unlink()  # a lost shard is extracted again, alone
    assert extract(pool, out) == 0 and calls == ["shard-00001.npy"]
    np.save(out / "shard-00002.npy", np.zeros((10, before.d), np.float32))  # same shape, other bytes
    (out / MANIFEST).unlink()
    calls.clear()
    assert extract(pool, out) == 0 and calls == ["shard-00002.npy"]
    assert open_pool_store(out, verify=True).store.content_hash == before.content_hash


def test_an_opening_is_remembered_until_the_store_is_written_again(tmp_path, calls, monkeypatch):
    from proxybench.ml import pool_store

    pool, out = make_pool(tmp_path / "pool"), tmp_path / "store"
    assert extract(pool, out) == 0
    hashed = []
    real = pool_store.text_sha256
    monkeypatch.setattr(pool_store, "text_sha256", lambda data: hashed.append(len(data)) or real(data))
    first = pool_store.open_pool_store(out)
    assert pool_store.open_pool_store(str(out)) is first and len(hashed) == 1  # one run's many askings: one read
    assert pool_store.open_pool_store(out, verify=True) is not first and len(hashed) == 2  # verify always reads
    (out / "files.txt").write_text("img000.png\n")  # rewritten: read again, and refused
    with pytest.raises(ProxybenchError, match="does not hash"):
        pool_store.open_pool_store(out)


def test_a_store_refuses_another_pool_or_phi_and_bad_input_fails_before_any_work(tmp_path, calls, capsys):
    pool, out = make_pool(tmp_path / "pool"), tmp_path / "store"
    assert extract(pool, out) == 0
    calls.clear()
    other = make_pool(tmp_path / "other", seed=1)  # the same file names elsewhere: still another pool
    assert extract(other, out) == 2
    assert "holds the features of another pool" in capsys.readouterr().err
    Image.new("RGB", (9, 9)).save(pool / "late.png")
    assert extract(pool, out) == 2
    assert "as it was (60 images; it now has 61" in capsys.readouterr().err
    (pool / "late.png").unlink()
    assert extract(pool, out, "--feature-layer", "2") == 2
    assert "another phi or layout (phi layer: stored 3, asked 2)" in capsys.readouterr().err
    assert extract(pool, out, "--dtype", "float16") == 2
    assert "dtype: stored 'float32', asked 'float16'" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    for where, message in [(tmp_path / "missing", "does not exist"), (tmp_path / "empty", "holds no image files")]:
        assert extract(where, tmp_path / "new") == 2
        assert message in capsys.readouterr().err
    assert extract(pool, tmp_path / "new", "--weights", "randm") == 2
    assert "unknown weights 'randm' (did you mean 'random'?)" in capsys.readouterr().err
    assert main(["features", "extract", "--pool", str(pool), "--out", str(tmp_path / "new"), "--weights", "cloud",
                 "--backbone", "resnet10t"]) == 2
    assert "needs a pool with labels" in capsys.readouterr().err
    assert extract(pool, tmp_path / "pool") == 2  # a folder that holds something else
    assert "is not empty and is not a pool store" in capsys.readouterr().err
    assert calls == [] and not (tmp_path / "new").exists()


def test_on_dask_workers_the_store_is_the_one_made_in_process(tmp_path):
    distributed = pytest.importorskip("distributed")
    from proxybench.ml.pool_extraction import IMAGE_SHARDS, ImageFiles, extract_pool
    from proxybench.ml.pool_store import open_pool_store

    pool = make_pool(tmp_path / "pool")
    assert extract(pool, tmp_path / "here") == 0
    here = open_pool_store(tmp_path / "here")
    phi, _ = in_process_features(pool, here)
    images = ImageFiles(pool, here.files, 16)
    with distributed.Client(distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                                     dashboard_address=None, silence_logs=40)) as client:
        store, extracted = extract_pool(tmp_path / "there", images, phi, "float32", 25, client)
    assert extracted == 3 and not (tmp_path / "there" / IMAGE_SHARDS).exists()
    np.testing.assert_allclose(store.take_rows(np.arange(60)), here.store.take_rows(np.arange(60)), rtol=1e-5, atol=1e-5)
