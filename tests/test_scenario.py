"""Client/pool/test splits keep originals apart and hide nothing they should not (the shared pool: test_pool_split.py)."""

from __future__ import annotations

import dataclasses

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
    assert not data.is_test[sc.pool_idx].any() and not data.is_private[sc.pool_idx].any()
    (dom,) = sc.client_domain_ids
    assert (data.domains[sc.client_train_idx] == dom).all() and data.is_private[sc.client_train_idx].all()
    assert (data.domains[sc.client_test_idx] == dom).all() and data.is_test[sc.client_test_idx].all()


def test_pool_holds_every_domains_public_part_and_the_distractors(data):
    sc = make_scenario(data, "photo", 0.5, seed=0)
    doms = set(data.domains[sc.pool_idx].tolist())
    assert doms == set(range(len(data.domain_names)))
    assert sc.in_domain_share(np.arange(len(sc.pool_idx))) == pytest.approx(60 / (5 * 60 + 80))  # one domain's rate
    excluded = make_scenario(data, "photo", 0.5, seed=0, pool_has_client_domain=False)
    assert int(sc.client_domain_ids[0]) not in set(data.domains[excluded.pool_idx].tolist())


@pytest.mark.parametrize("mix, shares", [("street+photo", {"street": 0.5, "photo": 0.5}),
                                         ("street:0.7,photo:0.3", {"street": 0.7, "photo": 0.3}),
                                         ("printed+thick+photo", {"printed": 1 / 3, "thick": 1 / 3, "photo": 1 / 3}),
                                         # augmented originals (several images a group) beside one-image groups
                                         ("handwritten+street", {"handwritten": 0.5, "street": 0.5}),
                                         ("street:0.7,thick:0.3", {"street": 0.7, "thick": 0.3})])
def test_mixed_client_keeps_groups_disjoint_and_its_shares(data, mix, shares):
    sc = make_scenario(data, mix, 0.5, seed=2)
    # (domain, group) pairs: no original crosses between device train, device test and pool
    pairs = {name: set(zip(data.domains[idx].tolist(), data.groups[idx].tolist(), strict=True)) for name, idx in
             [("client", sc.client_train_idx), ("pool", sc.pool_idx), ("test", sc.client_test_idx)]}
    assert not pairs["client"] & pairs["pool"] and not pairs["client"] & pairs["test"]
    assert not pairs["pool"] & pairs["test"]
    assert not data.is_test[sc.pool_idx].any() and data.is_test[sc.client_test_idx].all()
    names = [data.domain_names[d] for d in data.domains[sc.client_train_idx]]
    assert set(names) == set(shares)
    private = {n: (data.domains == data.domain_names.index(n)) & data.is_private for n in shares}
    assert abs(len(sc.client_train_idx) - 0.5 * np.mean([m.sum() for m in private.values()])) <= 10 * len(shares)
    group_size = {n: m.sum() / len(np.unique(data.groups[m])) for n, m in private.items()}
    train_shares, test_shares = sc.client_shares(sc.client_train_idx), sc.client_shares(sc.client_test_idx)
    for name, want in shares.items():  # within rounding: whole groups on the device, one image of its test set
        assert abs(train_shares[name] - want) <= 2 * group_size[name] / len(sc.client_train_idx) + 1e-9
        assert abs(test_shares[name] - want) <= 1.0 / len(sc.client_test_idx)
    # every client domain keeps its public part in the pool
    assert set(shares) <= {data.domain_names[d] for d in data.domains[sc.pool_idx]}
    excluded = make_scenario(data, mix, 0.5, seed=2, pool_has_client_domain=False)
    assert not np.isin(data.domains[excluded.pool_idx], sc.client_domain_ids).any()
    assert np.array_equal(excluded.client_train_idx, sc.client_train_idx)


def test_mixture_shares_are_counted_over_every_client_domain(data):
    sc = make_scenario(data, "street+photo", 0.5, seed=0)
    pool_dom = sc.pool_client_domain
    street, photo = np.flatnonzero(pool_dom == 0)[:30], np.flatnonzero(pool_dom == 1)[:10]
    other = np.flatnonzero(pool_dom == -1)[:10]
    picks = np.concatenate([street, photo, other])
    assert sc.in_domain_share(picks) == pytest.approx(0.8)
    shares = sc.domain_shares(picks)
    assert shares["street"] == 0.6 and shares["photo"] == 0.2 and sum(shares.values()) == pytest.approx(1.0)
    assert set(shares) == set(data.domain_names)


def test_a_single_domain_client_is_a_seeded_draw_of_its_private_groups(data):
    sc = make_scenario(data, "street", 0.5, seed=1)
    dom = data.domain_names.index("street")
    groups = np.unique(data.groups[(data.domains == dom) & data.is_private])
    chosen = np.random.default_rng([1, dom, 7919]).permutation(groups)[: round(0.5 * len(groups))]
    want = np.flatnonzero(np.isin(data.groups, chosen) & (data.domains == dom) & data.is_private)
    assert np.array_equal(sc.client_train_idx, want)
    assert np.array_equal(sc.client_test_idx, np.flatnonzero((data.domains == dom) & data.is_test))


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
    with pytest.raises(ProxybenchError, match="unknown client domain 'streets'"):
        make_scenario(data, "photo+streets", 0.5, 0)
    with pytest.raises(ProxybenchError, match="sum to 0.9, not 1"):
        make_scenario(data, "street:0.6,photo:0.3", 0.5, 0)
    with pytest.raises(ProxybenchError, match="'photo' more than once"):
        make_scenario(data, "photo+street+photo", 0.5, 0)


def test_dataset_cache_is_bit_identical_and_repairs_corruption(tmp_path):
    cache = Cache(tmp_path)
    ds = create_dataset("digits", **TINY_DATASET)
    first = ds.load(cache)
    entry = cache.path("datasets", ds.build_key(), ".npz")
    entry.write_bytes(entry.read_bytes()[:1000])  # truncated: the checksum no longer matches
    again = ds.load(cache)
    assert np.array_equal(first.images, again.images) and np.array_equal(first.groups, again.groups)
    assert np.array_equal(ds.generate().images, first.images)


def test_scenario_key_names_the_pool_itself(data):
    """Cache entries are keyed by the pool's content: a changed public part under the same dataset key gets another key.

    (A cloud pool folder cached under a recipe alone was once read for a different split.)
    """
    a = make_scenario(data, "street+photo", 0.5, seed=0, data_key={"dataset": "x"})
    assert a.key == make_scenario(data, "thick", 1.0, seed=3, data_key={"dataset": "x"}).key
    moved = dataclasses.replace(data, is_private=data.is_private.copy())
    street = np.flatnonzero((data.domains == data.domain_names.index("street")) & ~data.is_test & ~data.is_private)
    moved.is_private[street[:2]] = True  # two pool rows become private: the same recipe, another pool
    b = make_scenario(moved, "street+photo", 0.5, seed=0, data_key={"dataset": "x"})
    assert len(b.pool_idx) == len(a.pool_idx) - 2
    assert b.key["data"] == a.key["data"] and b.key["pool"] != a.key["pool"]


def test_a_cloud_pool_folder_of_another_size_is_refused(tmp_path, monkeypatch):
    """Defence in depth behind the content key: a cached pool whose row count is not the pool's stops the run."""
    from proxybench import RunSpec
    from proxybench.run import session as module

    from .conftest import TINY_RUN

    spec = RunSpec(sampler="random", client_domain="street", **TINY_RUN).resolved()
    cache = Cache(tmp_path)
    with module.RunSession(spec, cache):
        pass
    real = module.make_scenario

    def stale(*args, **kwargs):  # the same key for a pool one row shorter: what a stale recipe key did
        sc = real(*args, **kwargs)
        sc.pool_idx = sc.pool_idx[1:]
        return sc

    monkeypatch.setattr(module, "make_scenario", stale)
    with pytest.raises(ProxybenchError, match=r"rows in features.npy for a pool of"):
        with module.RunSession(spec, cache):
            pass
