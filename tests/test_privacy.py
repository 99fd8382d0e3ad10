"""Accounting matches dp-accounting; sigma 0 is no privacy; no release is epsilon 0."""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest

from proxybench import ProxybenchError, count_sensitivity, gaussian_event, gaussian_noise, sigma_for_epsilon
from proxybench.privacy.accounting import compose, epsilon, no_client_information, non_private


@pytest.mark.parametrize("sigma", [1.0, 5.0, 20.0])
def test_gaussian_epsilon_matches_pld_accountant(sigma):
    acc = dp_accounting.pld.PLDAccountant()
    acc.compose(dp_accounting.GaussianDpEvent(sigma))
    assert epsilon(gaussian_event(sigma, 1.0), 1e-5) == pytest.approx(acc.get_epsilon(1e-5))


def test_sensitivity_scales_noise_multiplier():
    assert epsilon(gaussian_event(5.0 * math.sqrt(2), count_sensitivity("replace_one"))) == pytest.approx(
        epsilon(gaussian_event(5.0, 1.0))
    )
    with pytest.raises(ProxybenchError, match="adjacency"):
        count_sensitivity("swap")


def test_special_cases():
    assert epsilon(gaussian_event(0.0, 1.0)) is None
    assert epsilon(no_client_information()) == 0.0
    assert epsilon(compose(no_client_information(), no_client_information())) == 0.0
    assert epsilon(compose(gaussian_event(5.0, 1.0), non_private())) is None
    both = epsilon(compose(gaussian_event(5.0, 1.0), gaussian_event(5.0, 1.0)))
    assert both > epsilon(gaussian_event(5.0, 1.0))


def test_sigma_for_epsilon_round_trip():
    sigma = sigma_for_epsilon(1.0, 1.0)
    assert epsilon(gaussian_event(sigma, 1.0)) == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ProxybenchError):
        sigma_for_epsilon(0.0, 1.0)


def test_a_large_epsilon_is_accounted_on_a_grid_scaled_to_it_and_stays_an_upper_bound(monkeypatch):
    steps = []
    real = dp_accounting.pld.PLDAccountant
    monkeypatch.setattr(dp_accounting.pld, "PLDAccountant",
                        lambda value_discretization_interval: steps.append(value_discretization_interval)
                        or real(value_discretization_interval=value_discretization_interval))
    assert epsilon(gaussian_event(sigma_for_epsilon(5.0, 1.0), 1.0)) == pytest.approx(5.0, rel=1e-6)
    large = epsilon(gaussian_event(sigma_for_epsilon(1000.0, 1.0), 1.0))
    assert steps[0] == 1e-4 and 5e-3 < steps[1] < 2e-2  # dp-accounting's step, then about 1e-5 of epsilon
    assert 1000.0 <= large < 1000.0 * 1.002  # rounding is pessimistic: never below the analytic epsilon
    monkeypatch.setattr(dp_accounting.rdp.RdpAccountant, "supports", lambda self, event: False)
    assert epsilon(dp_accounting.LaplaceDpEvent(0.1)) == pytest.approx(10.0, abs=1e-3)  # no RDP bound: the fine step
    assert steps[2] == 1e-4


def test_gaussian_noise_has_the_stated_scale():
    rng = np.random.default_rng(0)
    noisy = gaussian_noise(np.zeros(200_000), 3.0, rng)
    assert noisy.std() == pytest.approx(3.0, rel=0.02)
    assert np.array_equal(gaussian_noise(np.arange(3.0), 0.0, rng), np.arange(3.0))
