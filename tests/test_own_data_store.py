"""``run --pool-root STORE``: a pool store stands for its folder, and its features stand for phi's, when phi made it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from proxybench import create_dataset
from proxybench.cli import main
from proxybench.run import cloud_pool

from .test_own_data import device_folder, pool_folder

RUN = ["--sampler", "ecos", "--task", "autolabel", "--budget", "40", "--param", "R=8", "--param", "epochs=1",
       "--param", "k=3", "--param", "image_size=16", "--param", "workers=1"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A device folder, a labeled pool folder, and the pool's store made by the run's phi (lite0) at 16 px."""
    root = tmp_path_factory.mktemp("own")
    device_folder(root / "device")
    pool_folder(root / "pool")
    assert main(["features", "extract", "--pool", str(root / "pool"), "--out", str(root / "store"),
                 "--image-size", "16"]) == 0
    return root


def _run(root, pool, cache, *extra):
    results = cache.parent / f"results-{pool.name}"
    code = main(["run", "--results-dir", str(results), "--cache-dir", str(cache), "--device-root", str(root / "device"),
                 "--pool-root", str(pool), *RUN, *extra])
    (path,) = results.glob("*.json")
    return code, json.loads(path.read_text())


def test_a_store_gives_the_cloud_its_folders_pool_without_running_phi_on_the_pool(folders, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    code, from_folder = _run(folders, folders / "pool", cache)
    assert code == 0
    (folder_pool,) = (cache / "cloud-pools").glob("[!.]*")

    def no_phi(*args, **kwargs):
        raise AssertionError("phi ran over the pool although its store holds the features")

    monkeypatch.setattr(cloud_pool, "cached_features", no_phi)
    code, from_store = _run(folders, folders / "store", cache)
    assert code == 0
    (store_pool,) = set((cache / "cloud-pools").glob("[!.]*")) - {folder_pool}
    for record in (from_folder, from_store):
        assert record["status"] == "ok" and record["selection"]["pool_size"] == 150
    # The cloud gets the same pool: the same pixels, and the store's rows are phi's over them (the extraction batched
    # them otherwise, so the floats may differ in their last bits). The selections themselves differ: a spec naming
    # another pool_root is another run, whose device noise is drawn for it.
    assert np.array_equal(np.load(store_pool / "images.npy"), np.load(folder_pool / "images.npy"))
    np.testing.assert_allclose(np.load(store_pool / "features.npy"), np.load(folder_pool / "features.npy"),
                               rtol=1e-4, atol=1e-5)


def test_a_store_is_read_as_its_folder_by_the_dataset(folders):
    via_store = create_dataset("own-folders", device_root=str(folders / "device"), pool_root=str(folders / "store"),
                               image_size=16, workers=1)
    via_folder = create_dataset("own-folders", device_root=str(folders / "device"), pool_root=str(folders / "pool"),
                                image_size=16, workers=1)
    assert via_store.index().sources == via_folder.index().sources
    assert via_store.cache_key() == via_folder.cache_key()  # the same images: one decoded cache entry
    assert via_store.unlabeled_parts() == via_folder.unlabeled_parts()


def test_a_store_made_by_another_phi_or_size_is_refused_naming_the_difference(folders, tmp_path, capsys):
    code = main(["run", "--results-dir", str(tmp_path / "r1"), "--cache-dir", str(tmp_path / "c1"),
                 "--device-root", str(folders / "device"), "--pool-root", str(folders / "store"), *RUN,
                 "--backbone", "resnet10t", "--weights", "random"])
    assert code != 0
    err = capsys.readouterr().err
    assert "was made by another phi" in err and "backbone" in err
    code = main(["run", "--results-dir", str(tmp_path / "r2"), "--cache-dir", str(tmp_path / "c2"),
                 "--device-root", str(folders / "device"), "--pool-root", str(folders / "store"), *RUN,
                 "--param", "image_size=24"])
    assert code != 0
    assert "decoded its images at 16 px and this run decodes them at 24 px" in capsys.readouterr().err
    assert not (tmp_path / "c2" / "datasets").exists()  # refused before any image was decoded
