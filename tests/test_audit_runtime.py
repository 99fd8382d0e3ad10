"""The runtime's certification: its mechanisms, attacked through ``apply``, stay under their accountant; controls are caught."""

from __future__ import annotations

import time

import numpy as np
import pytest

from proxybench.audit.runtime import (
    NoNoise,
    certify_runtime,
    histogram_devices,
    knn_devices,
    runtime_mechanisms,
    sum_devices,
)
from proxybench.privacy.attack import run_audit
from proxybench.privacy.release import GaussianHistogram, GaussianSum, KnnVote, Release

# seeded; at this count the controls are flagged by a wide margin (seeds 0-9: bounds 1.7 to 9.3 times the claim)
TRIALS = 4000

ORDER = [
    ("gaussian_histogram", "add_remove", None),
    ("gaussian_histogram", "replace_one", None),
    ("gaussian_histogram", "add_remove", "per-row-clip"),
    ("gaussian_histogram", "add_remove", "half-noise"),
    ("gaussian_sum", "add_remove", None),
    ("gaussian_sum", "replace_one", None),
    ("gaussian_sum", "add_remove", "half-noise"),
    ("gaussian_sum", "replace_one", "replace-one"),
    ("knn_vote", "add_remove", None),
    ("knn_vote", "replace_one", None),
    ("knn_vote", "add_remove", "half-noise"),
]


@pytest.fixture(scope="module")
def certified():
    start = time.perf_counter()
    results = certify_runtime(trials=TRIALS, seed=0)
    return results, time.perf_counter() - start


def test_fixed_order_names_and_labels(certified):
    results, _ = certified
    assert [(r.plugin, r.adjacency, r.control) for r in results] == ORDER
    assert all(r.kind == "runtime" and r.trials == TRIALS for r in results)
    assert len({r.mechanism for r in results}) == len(results)


def test_every_real_mechanism_stays_under_its_accountant(certified):
    results, _ = certified
    real = [r for r in results if r.control is None]
    assert len(real) == 6
    for r in real:
        assert r.epsilon_accountant is not None
        assert not r.flagged and r.ok, r.mechanism
        assert max(r.eps_lb, r.eps_lb_gdp) <= r.epsilon_accountant, r.mechanism
    # the attack has power: on the tight add/remove neighbours the GDP bound reaches most of the claim
    for r in real:
        if r.adjacency == "add_remove":
            assert r.eps_lb_gdp > 0.6 * r.epsilon_accountant, r.mechanism


def test_every_positive_control_is_flagged(certified):
    results, _ = certified
    controls = [r for r in results if r.control is not None]
    assert {r.control for r in controls} == {"per-row-clip", "half-noise", "replace-one"}
    for r in controls:
        assert r.flagged and r.ok, r.mechanism
        assert max(r.eps_lb, r.eps_lb_gdp) > r.epsilon_accountant


def test_runs_in_bounded_time(certified):
    _, seconds = certified
    assert seconds < 60.0


def test_deterministic():
    first = run_audit(runtime_mechanisms()[0][0], 400, seed=3)
    again = run_audit(runtime_mechanisms()[0][0], 400, seed=3)
    assert (first.eps_lb, first.eps_lb_gdp, first.auroc) == (again.eps_lb, again.eps_lb_gdp, again.auroc)


def test_worst_case_neighbours_through_apply():
    """The exact releases come from ``apply`` itself: an 8-row unit moves the release by exactly its clipped bound."""
    hist = GaussianHistogram(noise_multiplier=1.0, bins=4, bound=1.0)
    d, d_prime = histogram_devices("add_remove")
    assert d.units.largest == 8
    diff = d_prime.apply(hist, NoNoise()) - d.apply(hist, NoNoise())
    assert np.allclose(diff, [1.0, 0.0, 0.0, 0.0])
    d, d_prime = histogram_devices("replace_one")
    assert np.allclose(d_prime.apply(hist, NoNoise()) - d.apply(hist, NoNoise()), [-1.0, 1.0, 0.0, 0.0])

    total = GaussianSum(noise_multiplier=1.0, dim=3, bound=1.0)
    for adjacency, moved in (("add_remove", 1.0), ("replace_one", -2.0)):
        d, d_prime = sum_devices(adjacency)
        assert np.allclose(d_prime.apply(total, NoNoise()) - d.apply(total, NoNoise()), [moved, 0.0, 0.0], atol=1e-6)

    knn = KnnVote(noise_multiplier=1.0, k=3, num_classes=2)
    for adjacency in ("add_remove", "replace_one"):
        d, d_prime = knn_devices(adjacency)
        assert d.apply(knn, NoNoise()).tolist() == [0.0] * 4  # 2:1 for label 0
        assert d_prime.apply(knn, NoNoise()).tolist() == [1.0] * 4  # 1:2: one unit turned every query


def test_a_runtime_that_drops_its_noise_is_flagged(monkeypatch):
    """The draws go through the mechanism's own code: break the runtime's noise and the real row is flagged."""
    monkeypatch.setattr(Release, "_noisy", lambda self, values, rng: values.astype(self.dtype))
    mech, control = runtime_mechanisms(controls=False)[0]
    assert control is None and "gaussian_histogram" in mech.name
    assert run_audit(mech, 400, seed=0).flagged
