"""own-folders: a practitioner's device folder and pool folder, scanned, split, refused without labels, run end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from proxybench import OUTSIDE_LABEL_SPACE, Cache, ProxybenchError, RunSpec, create_dataset
from proxybench.cli import main
from proxybench.run.resolved import ResolvedRun

CLASSES = ("ant", "bee", "cat", "dog")
STYLES = ("photo", "sketch", "cartoon")  # the pool's 'domains'; the device is a fourth style


def _image(path, cls: int, style: int, i: int) -> None:
    """A 16x16 image: a class colour, a style's brightness, a little noise."""
    rng = np.random.default_rng([cls, style, i])
    base = np.array([60 + 60 * cls, 200 - 40 * cls, 40 * style + 30])
    pixels = np.clip(base + rng.normal(0, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def device_folder(root, per_class: int = 12, labeled: bool = True):
    """ROOT/{class}/{image}, one style; ``labeled=False``: the same images straight in ROOT."""
    for c, cls in enumerate(CLASSES):
        for i in range(per_class):
            _image(root / cls / f"{i}.png" if labeled else root / f"{cls}_{i}.png", c, len(STYLES), i)
    return root


def pool_folder(root, labeled: bool = True, per_class: int = 12):
    """Three styles x four classes, plus a class the device lacks (fox).

    Labeled: ROOT/{class}/{style}_{i}.png. Unlabeled: ROOT/{style}/{class}/{i}.png, a deeper tree.
    """
    for s, style in enumerate(STYLES):
        for c, cls in enumerate((*CLASSES, "fox")):
            for i in range(per_class if cls != "fox" else 2):
                _image(root / cls / f"{style}_{i}.png" if labeled else root / style / cls / f"{i}.png", c, s, i)
    return root


def own_folders_params(root, pool_labeled: bool = False) -> dict:
    """A tiny own-folders build: a labeled pool is a pool-only domain of the device's classes, an unlabeled one a distractor."""
    return {"device_root": str(device_folder(root / "device", per_class=6)),
            "pool_root": str(pool_folder(root / "pool", labeled=pool_labeled, per_class=4)),
            "image_size": 16, "workers": 1, "device_test_fraction": 0.34}


def _own(tmp_path, **params):
    folders = {"device_root": str(tmp_path / "device"), "pool_root": str(tmp_path / "pool")}
    return create_dataset("own-folders", **{**folders, "image_size": 16, "workers": 1, **params})


def test_scan_labels_splits_and_private_part(tmp_path):
    device_folder(tmp_path / "device")
    pool_folder(tmp_path / "pool")
    ds = _own(tmp_path)
    assert ds.client_domains() == ("device",) and ds.unlabeled_parts() == {}
    data = ds.load(Cache(tmp_path / "cache"))
    assert data.domain_names == ("device", "pool", "pool_unlabeled") and data.class_names == CLASSES
    assert data.distractor_domains == ("pool_unlabeled",)
    device = data.domains == 0
    assert device.sum() == 48 and (data.domains == 1).sum() == 144 and (data.domains == 2).sum() == 6
    assert np.bincount(data.labels[device & data.is_test]).tolist() == [2, 2, 2, 2]  # 0.2 of 12 per class
    assert np.array_equal(data.is_private, device & ~data.is_test)  # the device holds all its training images
    assert not data.is_test[~device].any()
    assert np.bincount(data.labels[data.domains == 1]).tolist() == [36] * 4  # matched to the device's classes by name
    assert (data.labels[data.domains == 2] == OUTSIDE_LABEL_SPACE).all()  # fox: not a device class
    assert data.images.shape[1:] == (16, 16, 3)


def test_the_pool_is_the_same_whatever_the_seed(tmp_path):
    device_folder(tmp_path / "device")
    pool_folder(tmp_path / "pool")
    first, second = _own(tmp_path, seed=0).index(), _own(tmp_path, seed=1).index()
    pool = first.domains > 0
    assert np.array_equal(pool, second.domains > 0)
    assert [first.sources[i] for i in np.flatnonzero(pool)] == [second.sources[i] for i in np.flatnonzero(pool)]
    assert np.array_equal(first.labels, second.labels) and not np.array_equal(first.is_test, second.is_test)


def test_a_device_test_folder_replaces_the_fraction(tmp_path):
    device_folder(tmp_path / "device")
    pool_folder(tmp_path / "pool")
    device_folder(tmp_path / "test", per_class=3)
    (tmp_path / "test" / "cat").rename(tmp_path / "test" / "cow")  # a test class the training folder lacks joins
    index = _own(tmp_path, device_test_root=str(tmp_path / "test")).index()
    assert index.class_names == ("ant", "bee", "cat", "cow", "dog")  # the training and test folders' classes
    test = np.flatnonzero(index.is_test)
    assert len(test) == 12 and all(tmp_path / "test" in index.sources[i].parents for i in test)
    assert not index.is_test[: 48].any()  # every image of the device folder trains


def test_unlabeled_folders_are_declared_and_read(tmp_path):
    device_folder(tmp_path / "device")
    pool_folder(tmp_path / "pool", labeled=False)
    ds = _own(tmp_path)
    assert set(ds.unlabeled_parts()) == {"pool"} and "{class}/{image}" in ds.unlabeled_parts()["pool"]
    index = ds.index()
    assert index.domain_names == ("device", "pool_unlabeled")
    assert (index.labels[index.domains == 1] == OUTSIDE_LABEL_SPACE).all() and (index.domains == 1).sum() == 150
    device_folder(tmp_path / "flat", labeled=False)
    flat = _own(tmp_path, device_root=str(tmp_path / "flat"))
    assert set(flat.unlabeled_parts()) == {"device", "device_test", "pool"}
    assert (flat.index().labels == OUTSIDE_LABEL_SPACE).all() and flat.index().is_test.sum() == 10  # one stratum
    with pytest.raises(ProxybenchError, match="device_test_fraction must be in"):
        _own(tmp_path, device_test_fraction=0.0)
    with pytest.raises(ProxybenchError, match="needs its pool folder: pass --pool-root"):
        create_dataset("own-folders", device_root=str(tmp_path / "device")).index()
    with pytest.raises(ProxybenchError, match="the device folder .* and the pool folder .* overlap"):
        _own(tmp_path, pool_root=str(tmp_path)).index()  # the pool would hold the device's images


def _cli(tmp_path, *args):
    return main(["run", "--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), *args])


def test_a_task_without_the_labels_it_needs_is_refused_before_any_work(tmp_path, capsys):
    device_folder(tmp_path / "device")
    pool_folder(tmp_path / "pool", labeled=False)
    roots = ["--device-root", str(tmp_path / "device"), "--pool-root", str(tmp_path / "pool")]
    assert _cli(tmp_path, *roots, "--task", "outsource") == 2
    err = capsys.readouterr().err
    assert "task outsource needs pool labels, but on dataset own-folders the pool folder" in err
    assert str(tmp_path / "pool") in err and "tasks that can run on it: autolabel" in err
    device_folder(tmp_path / "flat", labeled=False)
    assert _cli(tmp_path, "--device-root", str(tmp_path / "flat"), "--pool-root", str(tmp_path / "pool")) == 2
    assert "every task is scored on the device's test labels" in capsys.readouterr().err
    assert _cli(tmp_path, *roots, "--dataset", "digits") == 2
    assert "select --dataset own-folders, not digits" in capsys.readouterr().err
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()  # nothing built, no record
    spec = RunSpec(task="autolabel", dataset="own-folders", client_domain="device",
                   dataset_params={"device_root": str(tmp_path / "flat"), "pool_root": str(tmp_path / "pool"),
                                   "device_test_root": str(tmp_path / "device")})
    with pytest.raises(ProxybenchError, match="task autolabel needs device labels.*tasks that can run on it: none"):
        ResolvedRun.of(spec)


def test_proxybench_run_on_own_folders(tmp_path):
    device_folder(tmp_path / "device")
    pool_folder(tmp_path / "pool")
    code = _cli(tmp_path, "--device-root", str(tmp_path / "device"), "--pool-root", str(tmp_path / "pool"),
                "--sampler", "ecos", "--task", "autolabel", "--budget", "40", "--backbone", "resnet10t",
                "--weights", "random", "--param", "R=8", "--param", "epochs=1", "--param", "k=3",
                "--param", "image_size=16", "--param", "workers=1")
    assert code == 0
    (path,) = (tmp_path / "results").glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "ok" and 0.0 <= record["metrics"]["accuracy"] <= 1.0
    assert record["spec"]["dataset"] == "own-folders" and record["spec"]["client_domain"] == "device"
    sel = record["selection"]
    assert (sel["size"], sel["pool_size"], sel["client_train_size"], sel["client_test_size"]) == (40, 150, 40, 8)
    assert sel["pool_in_domain_share"] == 0.0 and set(sel["domain_shares"]) == {"device", "pool", "pool_unlabeled"}
