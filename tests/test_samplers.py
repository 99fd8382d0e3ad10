"""Sampler contract (property tests) and ground truth on Gaussian-mixture features."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import proxybench
from proxybench import CloudView, ProxybenchError, create_sampler
from proxybench.privacy import epsilon
from proxybench.sampler import run_sampler

from .conftest import FixedExtractor, gaussian_mixture, make_device

SAMPLERS = ["random", "ecos", "upload-features", "oracle-domain"]


def cloud_for(x: np.ndarray, in_domain: np.ndarray | None = None) -> CloudView:
    return CloudView(features=x, images=np.zeros((len(x), 4, 4, 3), np.uint8), labels=None,
                     extractor=FixedExtractor(x), oracle_in_domain=in_domain)


def small_params(name: str) -> dict:
    return {"R": 8, "dim": 4} if name == "ecos" else {}


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(SAMPLERS), n=st.integers(20, 120), frac=st.floats(0.01, 1.0), seed=st.integers(0, 10**6))
def test_contract_exact_unique_in_range_and_deterministic(name, n, frac, seed):
    x, comp = gaussian_mixture(n // 4 + 1, 4, 6, seed)
    x = x[:n]
    in_domain = np.ones(n, bool) if name == "oracle-domain" else None
    budget = max(1, int(frac * n))
    sampler = create_sampler(name, **small_params(name))
    picks = []
    for _ in range(2):
        sel = run_sampler(sampler, cloud_for(x, in_domain), make_device(x[:10], seed=seed), budget,
                          np.random.default_rng(seed))
        idx = sel.indices
        assert len(idx) == budget == len(np.unique(idx))
        assert idx.min() >= 0 and idx.max() < n
        picks.append(idx)
    assert np.array_equal(picks[0], picks[1])


@pytest.mark.parametrize("name", SAMPLERS)
def test_budget_equal_to_pool_returns_the_pool_and_bad_budgets_fail(name):
    x, _ = gaussian_mixture(10, 3, 4, 0)
    in_domain = np.ones(len(x), bool) if name == "oracle-domain" else None
    sampler = create_sampler(name, **small_params(name))
    sel = run_sampler(sampler, cloud_for(x, in_domain), make_device(x[:5]), len(x), np.random.default_rng(0))
    assert np.array_equal(np.sort(sel.indices), np.arange(len(x)))
    for bad in (0, -3, len(x) + 1):
        with pytest.raises(ProxybenchError, match="budget"):
            run_sampler(sampler, cloud_for(x, in_domain), make_device(x[:5]), bad, np.random.default_rng(0))


@pytest.mark.parametrize("name,low,high", [("ecos", 0.8, 1.0), ("upload-features", 0.95, 1.0), ("random", 0.0, 0.3)])
def test_ground_truth_gaussian_mixture(name, low, high):
    """Client data from component 2 of 8 (1/8 of the pool): client-aware samplers select mostly from it.

    Measured at budget 150: ecos 0.87 (noise gives empty clusters small positive
    scores, and k-center favours those far candidates), upload-features 1.0, random ~0.12.
    """
    x, comp = gaussian_mixture(500, 8, 16, seed=1)
    client, _ = gaussian_mixture(200, 8, 16, seed=1)
    client = client[np.repeat(np.arange(8), 200) == 2]
    sampler = create_sampler(name, **({"R": 40, "dim": 16, "sigma": 2.0} if name == "ecos" else {}))
    sel = run_sampler(sampler, cloud_for(x), make_device(client), 150, np.random.default_rng(0))
    share = float((comp[sel.indices] == 2).mean())
    assert low <= share <= high, share


def test_ecos_bytes_privacy_and_flops():
    x, comp = gaussian_mixture(300, 5, 32, seed=2)
    client = x[comp == 1][:100]
    device = make_device(client)
    sampler = create_sampler("ecos", R=20, dim=8, sigma=5.0)
    sel = run_sampler(sampler, cloud_for(x), device, 100, np.random.default_rng(0))
    led = device.link.ledger.to_record()
    assert 20 * 8 * 4 <= led["bytes_down"] < 20 * 8 * 4 + 300
    assert 20 * 4 <= led["bytes_up"] < 20 * 4 + 100
    assert epsilon(sel.privacy) == pytest.approx(epsilon(proxybench.gaussian_event(5.0, 1.0)))
    # projection d -> d' plus nearest-centroid distances, 2 FLOPs per multiply-add
    assert device.meter.flops["select"] == 2 * 100 * 32 * 8 + 2 * 100 * 20 * 8
    half = make_device(client)
    run_sampler(create_sampler("ecos", R=20, dim=8, dtype="float16"), cloud_for(x), half, 100,
                np.random.default_rng(0))
    assert half.link.ledger.to_record()["bytes_down"] < led["bytes_down"] - 20 * 8 * 2 + 50


def test_ecos_sigma_zero_is_no_privacy_and_target_epsilon_sets_sigma():
    x, comp = gaussian_mixture(100, 3, 8, seed=0)
    sel = run_sampler(create_sampler("ecos", R=5, dim=4, sigma=0.0), cloud_for(x), make_device(x[:20]), 30,
                      np.random.default_rng(0))
    assert epsilon(sel.privacy) is None
    sel = run_sampler(create_sampler("ecos", R=5, dim=4, target_epsilon=1.0), cloud_for(x), make_device(x[:20]), 30,
                      np.random.default_rng(0))
    assert epsilon(sel.privacy) == pytest.approx(1.0, abs=0.02)


def test_upload_features_is_privacy_free_and_pays_for_features():
    x, _ = gaussian_mixture(50, 2, 8, seed=0)
    device = make_device(x[:30])
    sel = run_sampler(create_sampler("upload-features"), cloud_for(x), device, 20, np.random.default_rng(0))
    assert epsilon(sel.privacy) is None
    assert device.link.ledger.to_record()["bytes_up"] >= 30 * 8 * 4
