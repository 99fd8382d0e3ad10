"""Multi-round sampling: rounds recorded one by one, epsilon composed across them, audited as one transcript."""

from __future__ import annotations

import dp_accounting
import numpy as np
import pytest

from proxybench import ProxybenchError, RunSpec, create_sampler
from proxybench.audit.blackbox import audit_selection
from proxybench.contract.registry import registry
from proxybench.contract.sampler import run_sampler
from proxybench.privacy.accounting import epsilon
from proxybench.run.runner import run
from proxybench.util.cache import Cache

from . import trust_plugins
from .conftest import TINY_RUN, gaussian_mixture, make_device
from .test_samplers import cloud_for

SPEC = {**TINY_RUN, "task": "outsource", "task_params": {"epochs": 1}, "client_domain": "street"}


def mixture(seed: int = 0):
    x, comp = gaussian_mixture(60, 8, 8, seed=seed)
    return x, x[comp == 3][:40]


@pytest.mark.parametrize("rounds", [2, 3])
def test_epsilon_of_k_rounds_is_the_accountants_composition_of_the_rounds(rounds):
    x, client = mixture()
    sampler = create_sampler("ecos-rounds", R=8, rounds=rounds, sub_R=3, sigma=4.0)
    sel = run_sampler(sampler, cloud_for(x), make_device(client), 40, np.random.default_rng(0))
    done = sel.info["rounds"]
    assert len(done) == rounds
    sigmas = [r["sigma"] for r in done]
    composed = dp_accounting.ComposedDpEvent([dp_accounting.GaussianDpEvent(s) for s in sigmas])
    acc = dp_accounting.pld.PLDAccountant()
    acc.compose(composed)
    assert epsilon(sel.privacy) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-6)
    # The split keeps the whole protocol at the cost of one release at the effective sigma.
    single = epsilon(dp_accounting.GaussianDpEvent(4.0))
    assert epsilon(sel.privacy) == pytest.approx(single, rel=0.02)


def test_target_epsilon_is_for_the_whole_protocol():
    x, client = mixture()
    sel = run_sampler(create_sampler("ecos-rounds", R=8, rounds=3, sub_R=3, target_epsilon=1.0), cloud_for(x),
                      make_device(client), 40, np.random.default_rng(0))
    assert epsilon(sel.privacy) == pytest.approx(1.0, abs=0.03)


def test_refining_rounds_send_only_the_positive_clusters_sub_centroids():
    x, client = mixture()
    device = make_device(client)
    sel = run_sampler(create_sampler("ecos-rounds", R=16, rounds=2, sub_R=3, sigma=0.5, tau=2.0), cloud_for(x), device,
                      40, np.random.default_rng(0))
    first, second = sel.info["rounds"]
    assert 0 < first["positive"] < first["clusters"] and second["clusters"] <= 3 * first["positive"]
    down = [t.nbytes for t in device.ledger.transfers if t.direction == "down"]
    assert len(down) == 2 and down[1] < down[0]


def test_adaptive_stop_saves_rounds_bytes_and_epsilon():
    x, client = mixture()
    full = make_device(client)
    sel_full = run_sampler(create_sampler("ecos-rounds", R=8, rounds=3, sub_R=3, sigma=0.5), cloud_for(x), full, 40,
                           np.random.default_rng(0))
    early = make_device(client)
    sel_early = run_sampler(create_sampler("ecos-rounds", R=8, rounds=3, sub_R=3, sigma=0.5, stop_tv=0.99),
                            cloud_for(x), early, 40, np.random.default_rng(0))
    assert len(sel_full.info["rounds"]) == 3 and len(sel_early.info["rounds"]) == 2
    assert sel_early.info["rounds"][1]["tv_moved"] < 0.99
    assert early.ledger.to_record()["bytes_down"] < full.ledger.to_record()["bytes_down"]
    assert epsilon(sel_early.privacy) < epsilon(sel_full.privacy)


def test_the_black_box_audit_flags_a_round_without_noise():
    registry().register(trust_plugins, name="trust-plugins")
    params = {"R": 10, "rounds": 2, "sub_R": 3}
    lying = audit_selection(RunSpec(sampler="test-lying-rounds", sampler_params=params, **SPEC), Cache(), trials=300)
    # The exact round is caught whether or not the neighbour's record lands in its refined clusters
    # (that depends on the cache's secret draw of the client's data).
    assert lying.flagged and lying.bounds["exact_numbers"] >= 1 and lying.bounds["exact_replies"] == 0.0
    assert "reply number(s) are exact" in lying.description
    honest = audit_selection(RunSpec(sampler="ecos-rounds", sampler_params=params, **SPEC), Cache(), trials=300)
    assert not honest.flagged and honest.bounds["device_calls"] == 2.0 and honest.bounds["exact_numbers"] == 0.0


# dp-mean-rounds: dp-mean's budget split over re-centred rounds.

def sum_and_count_events(sigmas):
    """Each round's (sum, count) release under add/remove: two Gaussians of sensitivity 1 (in units of the clip)."""
    return dp_accounting.ComposedDpEvent([dp_accounting.GaussianDpEvent(s) for s in sigmas for _ in range(2)])


@pytest.mark.parametrize("rounds", [2, 3])
def test_dp_mean_rounds_epsilon_is_the_accountants_composition_of_its_rounds(rounds):
    x, client = mixture()
    sel = run_sampler(create_sampler("dp-mean-rounds", rounds=rounds, sigma=6.0), cloud_for(x), make_device(client), 40,
                      np.random.default_rng(0))
    sigmas = [r["sigma"] for r in sel.info["rounds"]]
    assert len(sigmas) == rounds and sigmas[0] == pytest.approx(6.0 * np.sqrt(2.0))
    acc = dp_accounting.pld.PLDAccountant()
    acc.compose(sum_and_count_events(sigmas))
    assert epsilon(sel.privacy) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-6)
    # The split keeps the protocol at dp-mean's cost at the same (effective) sigma.
    single = create_sampler("dp-mean", sigma=6.0).privacy_event(6.0)
    assert epsilon(sel.privacy) == pytest.approx(epsilon(single), rel=0.02)


def test_dp_mean_rounds_target_epsilon_is_for_the_whole_protocol():
    x, client = mixture()
    sel = run_sampler(create_sampler("dp-mean-rounds", rounds=3, target_epsilon=1.0), cloud_for(x), make_device(client),
                      40, np.random.default_rng(0))
    assert epsilon(sel.privacy) == pytest.approx(1.0, abs=0.03)


def test_dp_mean_rounds_with_one_round_is_dp_mean():
    x, client = mixture()
    one = run_sampler(create_sampler("dp-mean-rounds", rounds=1), cloud_for(x), make_device(client), 40,
                      np.random.default_rng(3))
    plain = run_sampler(create_sampler("dp-mean"), cloud_for(x), make_device(client), 40, np.random.default_rng(3))
    assert np.array_equal(one.indices, plain.indices)
    assert epsilon(one.privacy) == pytest.approx(epsilon(plain.privacy), rel=1e-9)


def test_recentred_rounds_move_a_clipped_mean_toward_the_client_and_never_loosen_the_clip():
    """A client far beyond the clip norm: round 1's mean is shrunk to about C; later rounds walk it outward."""
    rng = np.random.default_rng(2)
    mus = np.zeros((5, 8))
    mus[1:, :4] = 3.0 * np.eye(4)  # pool blobs at norm 3 set the clip C (their median norm) to about 3
    mus[0, 0] = 10.0  # the client's blob, also in the pool
    comp = np.repeat(np.arange(5), 100)
    x = (mus[comp] + rng.normal(0, 0.3, (len(comp), 8))).astype(np.float32)
    client = (mus[0] + rng.normal(0, 0.3, (80, 8))).astype(np.float32)
    sel = run_sampler(create_sampler("dp-mean-rounds", rounds=3, sigma=1e-3), cloud_for(x), make_device(client), 50,
                      np.random.default_rng(0))
    first, *later = sel.info["rounds"]
    assert first["center_norm"] < 3.5 and first["radius"] == pytest.approx(sel.info["clip"])
    norms = [first["center_norm"]] + [r["center_norm"] for r in later]
    assert all(b > a + 0.5 for a, b in zip(norms, norms[1:], strict=False))  # each round moves outward, toward 10 e1
    radii = [first["radius"]] + [r["radius"] for r in later]
    assert all(b <= a for a, b in zip(radii, radii[1:], strict=False))


def test_dp_mean_rounds_bad_parameters_name_the_value():
    with pytest.raises(ProxybenchError, match="dp-mean-rounds: rounds must be >= 1, got 0"):
        create_sampler("dp-mean-rounds", rounds=0)
    with pytest.raises(ProxybenchError, match="dp-mean-rounds: first_share must be in .*got 1.5"):
        create_sampler("dp-mean-rounds", first_share=1.5)


@pytest.mark.parametrize("sampler, params", [("ecos-rounds", {"R": 10, "rounds": 3, "sub_R": 3}),
                                             ("dp-mean-rounds", {"rounds": 3})])
def test_each_rounds_device_call_adds_up_to_the_phase_total(tmp_path, sampler, params):
    record, _ = run(RunSpec(sampler=sampler, sampler_params=params, **SPEC), tmp_path)
    calls = [c for c in record["device"]["calls"] if c["stage"] == "select"]
    assert record["device"]["select_rounds"] == len(calls) == len(record["selection"]["info"]["rounds"]) == 3
    select = record["ledger"]["by_phase"]["select"]
    assert sum(c["bytes_down"] for c in calls) == select["down"] and sum(c["bytes_up"] for c in calls) == select["up"]
    assert sum(c["flops"] for c in calls) == record["device"]["by_phase"]["select"]["flops"]


def test_the_black_box_audit_flags_a_dp_mean_round_without_noise():
    registry().register(trust_plugins, name="trust-plugins")
    lying = audit_selection(RunSpec(sampler="test-lying-mean-rounds", **SPEC), Cache(), trials=300)
    assert lying.flagged
    honest = audit_selection(RunSpec(sampler="dp-mean-rounds", **SPEC), Cache(), trials=300)
    assert not honest.flagged and honest.bounds["device_calls"] == 2.0
