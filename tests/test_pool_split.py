"""One pool for every client, and a private part the cloud cannot rebuild (issue 24).

The rebuild test runs a client-free sampler in the real, confined cloud process: it rebuilds the
dataset through the public API (``create_dataset``), as a sampler that never calls the device
would, and looks for the device's rows among what it built.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from proxybench import Cache, CloudView, Device, ProxybenchError, RunSpec, Sampler, Selection, create_dataset, hookimpl
from proxybench.contract.registry import registry
from proxybench.run.device_secret import device_secret
from proxybench.run.runner import run
from proxybench.run.scenario import make_scenario
from proxybench.run.session import RunSession
from proxybench.util.sandbox import landlock_abi

from .conftest import TINY_DATASET, TINY_RUN

CLIENTS = ("street", "handwritten", "thick", "street+photo", "street:0.7,printed:0.3", "handwritten+street")


def _digests(images: np.ndarray) -> set[str]:
    return {hashlib.sha256(np.ascontiguousarray(row).tobytes()).hexdigest() for row in images}


@dataclass
class Rebuilder(Sampler):
    """Client-free: rebuilds the dataset from public code and seeds, subtracts the pool, reads what it can."""

    name: ClassVar[str] = "test-rebuild"
    description: ClassVar[str] = "test: the complement attack, from the cloud"
    kind: ClassVar[str] = "client-free"
    dataset_params: str = "{}"  # the spec's dataset parameters: public

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        rebuilt = create_dataset("digits", **json.loads(self.dataset_params)).generate()
        pool = _digests(cloud.images[np.arange(len(cloud.images))])
        built = _digests(rebuilt.images)
        cache_root = Path(cloud.features.filename).parents[2]  # <cache>/cloud-pools/<entry>/features.npy
        try:
            secret = (cache_root / "secret" / "device.key").read_bytes().hex()
        except OSError as exc:
            secret = f"unreadable: {type(exc).__name__}"
        return Selection(indices=np.arange(budget), info={
            "pool_rows_rebuilt": len(pool & built) / len(pool),
            "complement": sorted(built - pool),  # what the attack offers as the device's rows and test splits
            "secret": secret})


@hookimpl
def proxybench_samplers():
    return [Rebuilder]


def test_a_cloud_sampler_that_rebuilds_the_dataset_finds_none_of_the_devices_rows(tmp_path):
    registry().register(sys.modules[__name__], name="pool-split-test")
    spec = RunSpec(sampler="test-rebuild", sampler_params={"dataset_params": json.dumps(TINY_DATASET)},
                   **{**TINY_RUN, "task": "outsource", "task_params": {"epochs": 1}, "client_domain": "street"})
    record, _ = run(spec, tmp_path)
    info = record["selection"]["info"]
    assert info["pool_rows_rebuilt"] == 1.0  # the control: public code rebuilds the pool, row for row
    cache = Cache()
    data = create_dataset("digits", **TINY_DATASET).keyed(device_secret(cache)).load(cache)  # what the harness cut
    scenario = make_scenario(data, "street", spec.client_fraction, spec.seed)
    device_rows = _digests(data.images[np.r_[scenario.client_train_idx, scenario.client_test_idx]])
    private_and_test = _digests(data.images[data.is_private | data.is_test])
    assert len(device_rows) == len(scenario.client_train_idx) + len(scenario.client_test_idx) > 0
    assert len(info["complement"]) >= len(private_and_test)  # it rebuilt a full private part: the wrong one
    assert not private_and_test & set(info["complement"])
    if landlock_abi():
        assert info["secret"].startswith("unreadable: Permission"), info["secret"]
        assert record["privacy"]["secret_hash"] == hashlib.sha256(device_secret(cache)).hexdigest()[:16]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny dataset as the harness builds it (keyed) and its public identity."""
    cache = Cache(tmp_path_factory.mktemp("pool"))
    dataset = create_dataset("digits", **TINY_DATASET).keyed(os.urandom(32))
    return dataset.load(cache), dataset.cache_key()


def test_the_pool_is_the_same_for_every_client_mixture_and_seed(tiny):
    data, key = tiny
    cuts = [make_scenario(data, client, fraction, seed, data_key=key)
            for client in CLIENTS for fraction in (1.0, 0.5) for seed in (0, 1)]
    first = cuts[0]
    public = ~data.is_test & ~data.is_private
    assert np.array_equal(first.pool_idx, np.flatnonzero(public))
    for cut in cuts:
        assert np.array_equal(cut.pool_idx, first.pool_idx) and cut.key == first.key
        assert set(cut.key) == {"data", "pool"}  # nothing of the client: the cloud's task reads the key
        assert not np.isin(cut.client_train_idx, cut.pool_idx).any() and data.is_private[cut.client_train_idx].all()
    counts = np.bincount(data.domains[first.pool_idx], minlength=len(data.domain_names))
    declared = create_dataset("digits", **TINY_DATASET).training_sizes()
    assert dict(zip(data.domain_names, counts.tolist(), strict=True)) == {n: s.images for n, s in declared.items()}
    assert len(set(counts[:-1].tolist())) == 1  # every digit domain at the same rate: no domain is depleted


def test_a_client_holds_a_fraction_of_its_private_part_and_no_more(tiny):
    data, key = tiny
    street = data.domain_names.index("street")
    private = np.flatnonzero(data.is_private & (data.domains == street))
    whole = make_scenario(data, "street", 1.0, seed=0, data_key=key)
    assert np.array_equal(whole.client_train_idx, private)
    half = make_scenario(data, "street", 0.5, seed=0, data_key=key)
    assert len(half.client_train_idx) == len(private) // 2 and np.isin(half.client_train_idx, private).all()
    assert not np.array_equal(half.client_train_idx, make_scenario(data, "street", 0.5, seed=1).client_train_idx)


def test_two_secrets_give_other_private_rows_and_test_splits_and_the_same_pool(tmp_path):
    dataset = create_dataset("digits", **TINY_DATASET)
    cache = Cache(tmp_path)  # one cache, two secrets: the data key names the secret, so nothing is shared
    a, b = (dataset.keyed(os.urandom(32)) for _ in range(2))
    assert a.build_key() != b.build_key() and a.cache_key() == b.cache_key() == dataset.cache_key()
    one, two = a.load(cache), b.load(cache)
    for name in ("is_test", "is_private", "domains"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    public = ~one.is_test & ~one.is_private
    for name in ("images", "labels", "groups"):
        assert np.array_equal(getattr(one, name)[public], getattr(two, name)[public]), name
    assert not _digests(one.images[~public]) & _digests(two.images[~public])
    unkeyed = dataset.generate()  # what public code builds: the pool, and a private part of no one's
    assert np.array_equal(unkeyed.images[public], one.images[public])
    assert not _digests(unkeyed.images[~public]) & _digests(one.images[~public])


def test_no_original_straddles_the_public_and_the_private_part(tiny):
    data, _ = tiny
    train = ~data.is_test
    assert not set(data.groups[train & data.is_private].tolist()) & set(data.groups[train & ~data.is_private].tolist())
    shifted = create_dataset("digits", **TINY_DATASET).generate()
    handwritten = shifted.domains == shifted.domain_names.index("handwritten")
    public_row, private_row = np.flatnonzero(handwritten & ~shifted.is_private)[0], np.flatnonzero(shifted.is_private)[0]
    shifted.groups[private_row] = shifted.groups[public_row]  # one augmentation of a pool original on the device's side
    with pytest.raises(ProxybenchError, match=r"1 groups have rows in both the public and the private part"):
        make_scenario(shifted, "street", 1.0, 0)


def test_without_the_client_domain_the_pool_is_the_shared_pool_less_that_domain(tiny):
    data, key = tiny
    shared = make_scenario(data, "street", 1.0, 0, data_key=key)
    for seed in (0, 1):
        out = make_scenario(data, "street+photo", 1.0, seed, pool_has_client_domain=False, data_key=key)
        keep = ~np.isin(data.domains[shared.pool_idx], out.client_domain_ids)
        assert np.array_equal(out.pool_idx, shared.pool_idx[keep]) and out.key != shared.key
        assert out.key == make_scenario(data, "photo+street", 1.0, 0, False, key).key  # a pool, not a client


def test_every_client_of_a_cache_reads_one_cloud_pool_folder(tmp_path):
    """The pool's caches (its cloud folder of images and phi, phi's features) are built once per dataset, not per client."""
    cache = Cache(tmp_path)
    folders = set()
    for client in ("street", "photo+thick"):
        spec = RunSpec(sampler="random", **{**TINY_RUN, "client_domain": client}).resolved()
        with RunSession(spec, cache) as session:
            folders.add(session.pool_dir)
    assert len(folders) == 1
    for kind in ("cloud-pools", "features"):
        assert len([p for p in (tmp_path / kind).iterdir() if p.is_dir()]) == 1, kind


def test_a_folder_dataset_shares_its_pool_too_and_its_split_is_fixed_by_the_domain(tmp_path):
    from .test_folder_datasets import _tree

    root = tmp_path / "tree"
    _tree(root, ("photo", "sketch", "paint"), ("cat", "dog"), per_class=10)

    def load(domains: str):
        dataset = create_dataset("imagefolder", root=str(root), domains=domains, workers=1)
        return dataset.load(Cache(tmp_path / "c")), dataset.cache_key()

    data, key = load("photo,sketch,paint")
    cuts = [make_scenario(data, client, 1.0, seed, data_key=key) for client in ("photo", "sketch", "photo+paint")
            for seed in (0, 1)]
    assert all(np.array_equal(c.pool_idx, cuts[0].pool_idx) and c.key == cuts[0].key for c in cuts)
    for d in range(3):  # 10 images a class: 2 test (test_fraction 0.2), 4 of the other 8 private
        for c in range(2):
            rows = (data.domains == d) & (data.labels == c)
            assert (data.is_test[rows].sum(), data.is_private[rows].sum()) == (2, 4)
    fewer, _ = load("photo,paint")  # photo's private files stay private when another domain is not read
    photo = [(d.domains == d.domain_names.index("photo")) & d.is_private for d in (data, fewer)]
    assert _digests(data.images[photo[0]]) == _digests(fewer.images[photo[1]])
