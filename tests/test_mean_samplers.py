"""dp-mean and mean-nearest: their privacy accounting, audit, bytes, and what one mean can and cannot find."""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest

from proxybench import ProxybenchError, create_sampler
from proxybench.audit.declared import audit_plugin, plugin_mechanism
from proxybench.audit.report import AuditReport
from proxybench.contract.sampler import run_sampler
from proxybench.plugins.samplers.dp_mean import clipped_release
from proxybench.privacy.accounting import epsilon

from .conftest import gaussian_mixture, make_device
from .test_samplers import cloud_for


def dp_accounting_epsilon(*events: dp_accounting.DpEvent, delta: float = 1e-5) -> float:
    acc = dp_accounting.pld.PLDAccountant()
    acc.compose(dp_accounting.ComposedDpEvent(list(events)))
    return float(acc.get_epsilon(delta))


@pytest.mark.parametrize("sigma", [3.0, 7.0710678, 20.0])
def test_dp_mean_epsilon_is_dp_accountings_composition_of_sum_and_count(sigma):
    x, comp = gaussian_mixture(60, 3, 8, seed=0)
    sel = run_sampler(create_sampler("dp-mean", sigma=sigma), cloud_for(x), make_device(x[comp == 1]), 20,
                      np.random.default_rng(0))
    # add/remove: the clipped sum (in units of C) moves by 1, the count by 1: one Gaussian of sensitivity sqrt(2)
    # on the (d + 1)-vector, which is the two releases' composition (equal up to the PLD's discretization)
    want = dp_accounting_epsilon(dp_accounting.GaussianDpEvent(sigma / 1.0), dp_accounting.GaussianDpEvent(sigma / 1.0))
    assert epsilon(sel.privacy) == pytest.approx(want, rel=1e-6)
    assert sel.adjacency == "add_remove"
    # replace-one: the runtime clips each unit's vector to sqrt(2), so one unit changed moves it by 2 sqrt(2)
    sel = run_sampler(create_sampler("dp-mean", sigma=sigma, adjacency="replace_one"), cloud_for(x),
                      make_device(x[comp == 1]), 20, np.random.default_rng(0))
    want = dp_accounting_epsilon(dp_accounting.GaussianDpEvent(sigma / (2.0 * np.sqrt(2.0))))
    assert epsilon(sel.privacy) == pytest.approx(want, rel=1e-6)


def test_dp_mean_default_spends_ecos_default_epsilon_and_target_epsilon_is_met():
    x, comp = gaussian_mixture(60, 3, 8, seed=0)
    run = lambda **p: run_sampler(create_sampler("dp-mean", **p), cloud_for(x), make_device(x[comp == 0]), 20,  # noqa: E731
                                  np.random.default_rng(0))
    ecos = run_sampler(create_sampler("ecos", R=5), cloud_for(x), make_device(x[comp == 0]), 20, np.random.default_rng(0))
    assert epsilon(run().privacy) == pytest.approx(epsilon(ecos.privacy), rel=1e-6)
    for target in (0.3, 1.0, 3.0):
        for adjacency in ("add_remove", "replace_one"):
            assert epsilon(run(target_epsilon=target, adjacency=adjacency).privacy) == pytest.approx(target, abs=0.01)


def test_dp_mean_sends_clip_and_sigma_and_receives_d_plus_one_numbers():
    x, comp = gaussian_mixture(80, 4, 16, seed=1)
    device = make_device(x[comp == 2])
    sel = run_sampler(create_sampler("dp-mean"), cloud_for(x), device, 30, np.random.default_rng(0))
    led = device.ledger.to_record()
    assert 17 * 4 <= led["bytes_up"] < 17 * 4 + 100
    assert led["bytes_down"] < 200  # the clip, and the release mechanism the request names
    norms = np.linalg.norm(x, axis=1)
    assert sel.info["clip"] == pytest.approx(float(np.median(norms)), rel=1e-5)


def test_dp_mean_clips_before_summing():
    feats = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    np.testing.assert_allclose(clipped_release(feats, 1.0), [0.6 + 0.3, 0.8 + 0.4, 3.0])
    np.testing.assert_allclose(clipped_release(feats, 10.0), [0.33, 0.44, 3.0])


@pytest.mark.parametrize("adjacency, distance", [("add_remove", math.sqrt(2)), ("replace_one", 2.0)])
def test_dp_mean_audit_neighbours_are_worst_case(adjacency, distance):
    mech = plugin_mechanism("sampler", "dp-mean", {"adjacency": adjacency})
    assert mech.neighbour_distance == pytest.approx(distance) == pytest.approx(mech.sensitivity)


def test_dp_mean_audit_passes_and_its_controls_are_flagged():
    results = audit_plugin("sampler", "dp-mean", {"target_epsilon": 1.0}, trials=100_000)
    assert [r.control for r in results] == [None, "half-noise", "replace-one"]
    real = results[0]
    assert real.epsilon_pld == pytest.approx(1.0, abs=1e-3)
    assert real.eps_lb_gdp <= real.epsilon_pld and not real.flagged
    assert results[1].flagged and results[2].flagged
    assert AuditReport(results).exit_code == 0


def test_mean_nearest_is_privacy_free_and_keeps_the_points_nearest_the_exact_mean():
    x, comp = gaussian_mixture(50, 4, 8, seed=2)
    client = x[comp == 3][:30]
    device = make_device(client)
    sel = run_sampler(create_sampler("mean-nearest"), cloud_for(x), device, 25, np.random.default_rng(0))
    assert epsilon(sel.privacy) is None
    want = np.argsort(((x - client.astype(np.float64).mean(0)) ** 2).sum(1), kind="stable")[:25]
    assert np.array_equal(sel.indices, np.sort(want))
    assert device.ledger.to_record()["bytes_up"] >= 8 * 4


@pytest.mark.parametrize("name", ["mean-nearest", "dp-mean"])
def test_diversity_step_starts_from_the_mean_and_stays_among_the_nearest(name):
    x, comp = gaussian_mixture(100, 3, 8, seed=4)
    client = x[comp == 1][:50]
    near = run_sampler(create_sampler(name), cloud_for(x), make_device(client), 40, np.random.default_rng(0))
    spread = run_sampler(create_sampler(name, diversity=True, rho=2.0), cloud_for(x), make_device(client), 40,
                         np.random.default_rng(0))
    assert len(np.unique(spread.indices)) == 40 and not np.array_equal(near.indices, spread.indices)
    assert (comp[spread.indices] == 1).mean() == 1.0  # the 80 nearest are all in the client's blob


def test_one_mean_lands_on_a_pool_mode_between_the_clients_two_modes_where_ecos_covers_both():
    """Why a histogram can beat a mean on mixed clients: the mean of two modes is near whatever lies between them.

    Two client modes at -20 e1 and +20 e1 and a pool-only mode at 0: the mean picks the
    middle mode. (Without a mode between them the mean's nearest points are the two
    modes' inner edges, which is fine: the leaderboards measure which case real data is.)
    """
    rng = np.random.default_rng(5)
    mus = np.zeros((4, 16))
    mus[0, 0], mus[1, 0], mus[3, 1] = -20.0, 20.0, 30.0  # client A, client B, the middle (2), a far one (3)
    comp = np.repeat(np.arange(4), 200)
    x = (mus[comp] + rng.normal(0, 1, (len(comp), 16))).astype(np.float32)
    client = (mus[np.repeat([0, 1], 60)] + rng.normal(0, 1, (120, 16))).astype(np.float32)
    share = lambda sel: float(np.isin(comp[sel.indices], [0, 1]).mean())  # noqa: E731
    mean = run_sampler(create_sampler("mean-nearest"), cloud_for(x), make_device(client), 150, np.random.default_rng(0))
    ecos = run_sampler(create_sampler("ecos", R=16, sigma=1.0), cloud_for(x), make_device(client), 150,
                       np.random.default_rng(0))
    assert share(mean) < 0.1 and (comp[mean.indices] == 2).mean() > 0.9
    assert share(ecos) > 0.9 and min((comp[ecos.indices] == 0).mean(), (comp[ecos.indices] == 1).mean()) > 0.3


def test_bad_parameters_name_the_value():
    with pytest.raises(ProxybenchError, match="clip must be >= 0.*-1"):
        create_sampler("dp-mean", clip=-1.0)
    with pytest.raises(ProxybenchError, match="sigma must be > 0"):
        create_sampler("dp-mean", sigma=0.0)
    with pytest.raises(ProxybenchError, match="rho must be >= 1"):
        create_sampler("mean-nearest", rho=0.5)


def test_dp_mean_passes_the_black_box_audit_on_a_mixed_client():
    """The real program in the device process, replayed on D and D' (a copy of one record): no violation."""
    from proxybench import Cache, RunSpec
    from proxybench.audit.blackbox import audit_selection

    from .conftest import TINY_RUN

    spec = RunSpec(sampler="dp-mean", client_domain="street+photo", **{**TINY_RUN, "task": "outsource",
                                                                        "task_params": {"epochs": 1}})
    result = audit_selection(spec, Cache(), trials=300)
    assert not result.flagged and result.eps_lb <= result.epsilon_pld
    assert result.epsilon_pld == pytest.approx(0.726, abs=0.01)
