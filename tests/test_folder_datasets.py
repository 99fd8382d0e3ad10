"""Folder datasets (DomainNet, Digits-Five, Office-Home, imagefolder) on tiny fake trees, end to end."""

from __future__ import annotations

import bz2
import gzip
import json

import numpy as np
import pytest
from PIL import Image

from proxybench import Cache, ProxybenchError, create_dataset, create_weights
from proxybench.cli import main

RUN_ARGS = ["--sampler", "random", "--task", "autolabel", "--backbone", "resnet10t", "--weights", "random",
            "--budget", "12", "--param", "epochs=1", "--param", "k=3", "--param", "workers=1",
            "--param", "image_size=16"]


def _image(path, seed, size=(20, 24), fmt=None):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path, format=fmt)


def _tree(root, domains, classes, per_class=4, ext=".png"):
    for d, domain in enumerate(domains):
        for c, cls in enumerate(classes):
            for i in range(per_class):
                _image(root / domain / cls / f"{i}{ext}", [d, c, i])


def _domainnet(root, domains=("clipart", "real", "sketch"), classes=("bird", "zebra", "teapot")):
    for d in domains:
        for split, n in (("train", 4), ("test", 2)):
            lines = []
            for c, cls in enumerate(classes):
                for i in range(n):
                    rel = f"{d}/{cls}/{cls}_{split}_{i:03d}.jpg"
                    _image(root / rel, [len(d), c, i, n], fmt="JPEG")
                    lines.append(f"{rel} {c * 7}")
            (root / f"{d}_{split}.txt").write_text("\n".join(lines) + "\n")
    return ["--param", f"domains={','.join(domains)}", "--param", f"classes={','.join(classes)}"]


def _idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def _digits_five(root):
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    (root / "mnist").mkdir(parents=True)
    for prefix, n in (("train", 40), ("t10k", 20)):
        _idx(root / "mnist" / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        _idx(root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    for folder, stem in (("svhn", "{}_32x32.mat"), ("syn", "synth_{}_32x32.mat")):
        (root / folder).mkdir()
        for split, n in (("train", 40), ("test", 20)):
            savemat(root / folder / stem.format(split),
                    {"X": rng.integers(0, 255, (32, 32, 3, n), dtype=np.uint8), "y": (np.arange(n) % 10 + 1)[:, None]})
    (root / "usps").mkdir()
    for name, n in (("usps.bz2", 40), ("usps.t.bz2", 20)):
        lines = [f"{i % 10 + 1} " + " ".join(f"{j + 1}:{v:.3f}" for j, v in enumerate(rng.uniform(-1, 1, 256)))
                 for i in range(n)]
        (root / "usps" / name).write_bytes(bz2.compress("\n".join(lines).encode()))
    for split, n in (("train", 40), ("test", 20)):
        names = []
        for i in range(n):
            _image(root / "mnist_m" / f"mnist_m_{split}" / f"{i:08d}.png", [i, n], size=(28, 28))
            names.append(f"{i:08d}.png {i % 10}")
        (root / "mnist_m" / f"mnist_m_{split}_labels.txt").write_text("\n".join(names) + "\n")


def _run(tmp_path, dataset, root, client, extra=()):
    results = tmp_path / "results"
    code = main(["run", "--dataset", dataset, "--data-root", str(root), "--client-domain", client,
                 "--results-dir", str(results), "--cache-dir", str(tmp_path / "cache"), *RUN_ARGS, *extra])
    assert code == 0
    (path,) = results.glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "ok" and 0.0 <= record["metrics"]["accuracy"] <= 1.0
    return record


def test_domainnet_run_and_memmapped_cache(tmp_path):
    root = tmp_path / "domainnet"
    extra = _domainnet(root)
    record = _run(tmp_path, "domainnet", root, "sketch", extra)
    assert record["selection"]["client_test_size"] == 6
    ds = create_dataset("domainnet", root=str(root), domains="clipart,real,sketch", classes="zebra,bird", image_size=16)
    data = ds.load(Cache(tmp_path / "cache2"))
    assert isinstance(data.images, np.memmap) and not data.images.flags.writeable
    assert data.images.shape == (3 * 2 * 6, 16, 16, 3)
    assert data.class_names == ("zebra", "bird") and data.domain_names == ("clipart", "real", "sketch")
    assert len(np.unique(data.groups)) == len(data.groups)
    key = ds.cache_key()
    assert "root" not in key["params"]
    _image(root / "real" / "bird" / "bird_train_000.jpg", 99, size=(30, 30), fmt="JPEG")  # content changes
    again = create_dataset("domainnet", root=str(root), domains="clipart,real,sketch", classes="zebra,bird", image_size=16)
    assert again.cache_key() != key


def test_domainnet_mixed_client_run(tmp_path, capsys):
    """Mixed-domain clients work for folder datasets too; an unknown domain in a mixture is named."""
    root = tmp_path / "domainnet"
    extra = _domainnet(root)
    record = _run(tmp_path, "domainnet", root, "sketch+real", extra)
    sel = record["selection"]
    assert record["spec"]["client_domain"] == "sketch+real"
    assert set(sel["client_domain_shares"]) == {"sketch", "real"} and sel["client_test_size"] == 12
    assert sum(sel["domain_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert main(["run", "--dataset", "domainnet", "--data-root", str(root), "--client-domain", "sketch+paint",
                 "--results-dir", str(tmp_path / "r2"), "--cache-dir", str(tmp_path / "cache"), *RUN_ARGS, *extra]) == 2
    assert "unknown client domain 'paint'" in capsys.readouterr().err


def test_digits_five_run(tmp_path):
    root = tmp_path / "d5"
    _digits_five(root)
    record = _run(tmp_path, "digits-five", root, "svhn", ["--param", "image_size=32"])
    assert record["selection"]["client_test_size"] == 20
    data = create_dataset("digits-five", root=str(root), train_per_domain=30, test_per_domain=10).load(
        Cache(tmp_path / "c"))
    assert data.domain_names == ("mnist", "mnistm", "svhn", "syn", "usps")
    assert data.images.shape[1:] == (32, 32, 3) and len(data.images) == 5 * 40
    assert set(np.unique(data.labels)) == set(range(10))


def test_office_home_run(tmp_path):
    root = tmp_path / "oh"
    _tree(root, ("Art", "Clipart", "Product", "Real World"), ("Bike", "Mug", "Pen"), per_class=5, ext=".jpg")
    record = _run(tmp_path, "office-home", root, "real_world", ["--param", "test_fraction=0.4"])
    assert record["selection"]["client_test_size"] == 6


def test_imagefolder_run_with_distractors(tmp_path):
    root = tmp_path / "mine"
    _tree(root, ("photo", "sketch"), ("cat", "dog"))
    _tree(root, ("letters",), ("A", "B"))
    record = _run(tmp_path, "imagefolder", root, "photo", ["--param", "distractor_domains=letters",
                                                           "--param", "test_fraction=0.25"])
    # 3 training images a class: 2 of them private (round(1.5)), 1 public, in photo and in sketch; letters all public
    assert record["selection"]["pool_size"] == 2 + 2 + 8 and record["selection"]["client_train_size"] == 4
    data = create_dataset("imagefolder", root=str(root), distractor_domains="letters").load(Cache(tmp_path / "c"))
    letters = data.domains == data.domain_names.index("letters")
    assert (data.labels[letters] == -1).all() and not (data.is_test | data.is_private)[letters].any()
    assert data.class_names == ("cat", "dog") and data.client_domains == ("photo", "sketch")


def test_layout_errors_name_the_missing_path(tmp_path, capsys):
    root = tmp_path / "domainnet"
    _domainnet(root, domains=("clipart",))
    code = main(["run", "--dataset", "domainnet", "--data-root", str(root), "--client-domain", "clipart",
                 "--results-dir", str(tmp_path / "r"), *RUN_ARGS])
    err = capsys.readouterr().err
    assert code == 2 and "missing split list of domain 'infograph'" in err and str(root / "infograph_train.txt") in err
    assert "expected layout" in err and "{domain}/{class}/{file}.jpg" in err
    (root / "clipart" / "bird" / "bird_train_001.jpg").unlink()
    with pytest.raises(ProxybenchError, match="missing, e.g.: .*bird_train_001.jpg"):
        create_dataset("domainnet", root=str(root), domains="clipart", classes="bird").cache_key()
    with pytest.raises(ProxybenchError, match=r"missing domain folder 'Product'.*\n.*expected layout"):
        _tree(tmp_path / "oh", ("Art", "Clipart"), ("Mug",), per_class=1)
        create_dataset("office-home", root=str(tmp_path / "oh")).cache_key()
    with pytest.raises(ProxybenchError, match="missing mnist file: .*train-images-idx3-ubyte"):
        create_dataset("digits-five", root=str(tmp_path / "oh")).cache_key()
    with pytest.raises(ProxybenchError, match="--data-root PATH .*PROXYBENCH_IMAGEFOLDER"):
        create_dataset("imagefolder").cache_key()
    assert main(["run", "--data-root", str(root), *RUN_ARGS[:2]]) == 2
    assert "reads no local folder" in capsys.readouterr().err


def test_corrupt_images_are_skipped_loudly_or_fatal(tmp_path, capsys):
    root = tmp_path / "mine"
    _tree(root, ("photo", "sketch"), ("cat", "dog"))
    bad = root / "sketch" / "dog" / "2.png"
    bad.write_bytes(b"not a png at all")
    data = create_dataset("imagefolder", root=str(root), workers=1).load(Cache(tmp_path / "c"))
    assert len(data.images) == 15
    assert f"skipping corrupt image {bad}" in capsys.readouterr().err
    create_dataset("imagefolder", root=str(root)).load(Cache(tmp_path / "c"))  # from the cache: still reported
    assert "1 corrupt images were skipped" in capsys.readouterr().err
    with pytest.raises(ProxybenchError, match=f"corrupt image {bad}"):
        create_dataset("imagefolder", root=str(root), on_corrupt="error").load(Cache(tmp_path / "c"))


def test_datasets_info(capsys):
    assert main(["datasets", "info", "domainnet"]) == 0
    out = capsys.readouterr().out
    for needle in ("ai.bu.edu/M3SDA", "{domain}_train.txt", "PROXYBENCH_DOMAINNET", "--data-root", "bird,feather"):
        assert needle in out
    assert main(["datasets", "info", "digits-five"]) == 0
    out = capsys.readouterr().out
    assert "train_32x32.mat" in out and "idx3-ubyte" in out and "usps.bz2" in out
    assert main(["datasets", "info", "domainet"]) == 2
    assert "did you mean 'domainnet'" in capsys.readouterr().err


def test_file_weights_report_missing_and_unexpected_keys(tmp_path, capsys):
    import torch

    from proxybench import PoolData, create_backbone

    state = create_backbone("resnet10t").state_dict()
    good = tmp_path / "good.pt"
    torch.save({"state_dict": {**state, "extra.weight": torch.zeros(1)}}, good)
    source = create_weights("file", path=str(good))
    pool = PoolData(np.zeros((1, 8, 8, 3), np.uint8), np.zeros(1, np.int64), key={})
    model = source.load("resnet10t", pool, Cache(tmp_path), 0)
    assert torch.equal(model.state_dict()["conv1.0.weight"], state["conv1.0.weight"])
    err = capsys.readouterr().err
    assert "ignoring 1 unexpected keys" in err and "extra.weight" in err
    partial = tmp_path / "partial.pt"
    torch.save(dict(list(state.items())[2:]), partial)  # the first two tensors are missing
    with pytest.raises(ProxybenchError, match="lacks 2 tensors of resnet10t"):
        create_weights("file", path=str(partial)).load("resnet10t", pool, Cache(tmp_path), 0)
    with pytest.raises(ProxybenchError, match="does not exist"):
        create_weights("file", path=str(tmp_path / "nope.pt")).load("resnet10t", pool, None, 0)


def test_hub_weights_fail_fast_offline(monkeypatch):
    import time

    from huggingface_hub import constants


    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-proxybench-hub-cache")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", "/nonexistent-proxybench-hub-cache")
    start = time.perf_counter()
    with pytest.raises(ProxybenchError, match="lite0.*file:PATH"):
        create_weights("hub").load("resnet10t", None, None, 0)
    assert time.perf_counter() - start < 20
    assert constants.HF_HUB_OFFLINE is True  # restored


def test_unreadable_data_files_give_one_line_naming_the_file(tmp_path):
    root = tmp_path / "d5"
    _digits_five(root)
    bad_mat = root / "svhn" / "train_32x32.mat"
    bad_mat.write_bytes(b"MATLAB 5.0 but not really" * 3)
    truncated = root / "mnist" / "train-images-idx3-ubyte.gz"
    truncated.write_bytes(truncated.read_bytes()[:40])
    for domains, path in (("svhn", bad_mat), ("mnist", truncated)):
        with pytest.raises(ProxybenchError) as err:
            create_dataset("digits-five", root=str(root), domains=domains).load(Cache(tmp_path / "c"))
        assert str(path) in str(err.value) and "\n" not in str(err.value), err.value
    dn = tmp_path / "dn"
    _domainnet(dn, domains=("clipart",))
    listing = dn / "clipart_train.txt"
    listing.write_bytes(b"\xff\xfe\x00 not text")
    with pytest.raises(ProxybenchError, match=f"cannot read {listing}: UnicodeDecodeError") as err:
        create_dataset("domainnet", root=str(dn), domains="clipart", classes="bird").cache_key()
    assert "\n" not in str(err.value)
    assert main(["run", "--dataset", "domainnet", "--data-root", str(dn), "--client-domain", "clipart",
                 "--param", "domains=clipart", "--param", "classes=bird", "--results-dir", str(tmp_path / "r"),
                 *RUN_ARGS]) == 2


def test_parameter_objects_hold_no_scanned_state(tmp_path):
    import pickle

    root = tmp_path / "d5"
    _digits_five(root)
    ds = create_dataset("digits-five", root=str(root), train_per_domain=30, test_per_domain=10)
    ds.load(Cache(tmp_path / "c"))
    ds.cache_key()
    assert set(vars(ds)) == set(ds.params())  # nothing but parameters: no index, fingerprint or pixels
    assert len(pickle.dumps(ds)) < 2000
    assert ds == create_dataset("digits-five", root=str(root), train_per_domain=30, test_per_domain=10)


def test_folder_datasets_declare_client_domains_without_decoding(tmp_path):
    root = tmp_path / "mine"
    _tree(root, ("photo", "sketch"), ("cat",), per_class=1)
    _tree(root, ("letters",), ("A",), per_class=1)
    assert create_dataset("imagefolder", root=str(root), distractor_domains="letters").client_domains() == (
        "photo", "sketch")
    _tree(tmp_path / "oh", ("Art", "Real World"), ("Mug",), per_class=1)
    assert create_dataset("office-home", root=str(tmp_path / "oh"), domains="art,real_world").client_domains() == (
        "art", "real_world")
    assert create_dataset("domainnet", domains="real,sketch").client_domains() == ("real", "sketch")  # no root needed
    with pytest.raises(ProxybenchError, match="unknown domain 'svnh'; domains are mnist, mnistm, svhn, syn, usps"):
        create_dataset("digits-five", domains="mnist,svnh").client_domains()
