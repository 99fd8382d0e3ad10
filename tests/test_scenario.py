"""Client/pool/test splits keep originals apart and hide nothing they should not."""

from __future__ import annotations

import numpy as np
import pytest

from proxybench import Cache, ProxybenchError, create_dataset
from proxybench.run.scenario import make_scenario

from .conftest import TINY_DATASET


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return create_dataset("digits", **TINY_DATASET).load(Cache(tmp_path_factory.mktemp("c")))


@pytest.mark.parametrize("domain", ["handwritten", "street", "thick"])
def test_no_original_is_shared_between_client_pool_and_test(data, domain):
    sc = make_scenario(data, domain, 0.5, seed=3)
    groups = {name: set(data.groups[idx].tolist()) for name, idx in
              [("client", sc.client_train_idx), ("pool", sc.pool_idx), ("test", sc.client_test_idx)]}
    assert not groups["client"] & groups["pool"]
    assert not groups["client"] & groups["test"]
    assert not groups["pool"] & groups["test"]
    assert not data.is_test[sc.pool_idx].any()
    assert (data.domains[sc.client_train_idx] == sc.client_domain_id).all()
    assert (data.domains[sc.client_test_idx] == sc.client_domain_id).all() and data.is_test[sc.client_test_idx].all()


def test_pool_holds_remainder_distractors_and_other_domains(data):
    sc = make_scenario(data, "photo", 0.5, seed=0)
    doms = set(data.domains[sc.pool_idx].tolist())
    assert doms == set(range(len(data.domain_names)))
    assert 0 < sc.in_domain_share(np.arange(len(sc.pool_idx))) < 0.2
    excluded = make_scenario(data, "photo", 0.5, seed=0, pool_has_client_domain=False)
    assert sc.client_domain_id not in set(data.domains[excluded.pool_idx].tolist())


def test_client_fraction_and_seed(data):
    a = make_scenario(data, "printed", 0.25, seed=0)
    b = make_scenario(data, "printed", 0.75, seed=0)
    assert len(a.client_train_idx) < len(b.client_train_idx)
    assert np.array_equal(a.client_train_idx, make_scenario(data, "printed", 0.25, seed=0).client_train_idx)
    assert not np.array_equal(a.client_train_idx, make_scenario(data, "printed", 0.25, seed=1).client_train_idx)


def test_bad_inputs(data):
    with pytest.raises(ProxybenchError, match="unknown client domain 'letters'"):
        make_scenario(data, "letters", 0.5, 0)
    with pytest.raises(ProxybenchError, match="did you mean 'street'"):
        make_scenario(data, "streets", 0.5, 0)
    with pytest.raises(ProxybenchError, match="client_fraction"):
        make_scenario(data, "street", 1.5, 0)


def test_dataset_cache_is_bit_identical_and_repairs_corruption(tmp_path):
    cache = Cache(tmp_path)
    ds = create_dataset("digits", **TINY_DATASET)
    first = ds.load(cache)
    entry = cache.path("datasets", ds.cache_key(), ".npz")
    entry.write_bytes(entry.read_bytes()[:1000])  # truncated: the checksum no longer matches
    again = ds.load(cache)
    assert np.array_equal(first.images, again.images) and np.array_equal(first.groups, again.groups)
    assert np.array_equal(ds.generate().images, first.images)
