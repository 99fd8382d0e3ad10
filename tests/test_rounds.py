"""Multi-round sampling: rounds recorded one by one, epsilon composed across them, audited as one transcript."""

from __future__ import annotations

import dp_accounting
import numpy as np
import pytest

from proxybench import RunSpec, create_sampler
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
    assert epsilon(sel.privacy) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-9)
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


def test_each_rounds_record_adds_up_to_the_phase_total(tmp_path):
    record, _ = run(RunSpec(sampler="ecos-rounds", sampler_params={"R": 10, "rounds": 3, "sub_R": 3}, **SPEC), tmp_path)
    calls = [c for c in record["device"]["calls"] if c["stage"] == "select"]
    assert record["device"]["select_rounds"] == len(calls) == len(record["selection"]["info"]["rounds"])
    select = record["ledger"]["by_phase"]["select"]
    assert sum(c["bytes_down"] for c in calls) == select["down"] and sum(c["bytes_up"] for c in calls) == select["up"]
    assert sum(c["flops"] for c in calls) == record["device"]["by_phase"]["select"]["flops"]


def test_the_black_box_audit_flags_a_round_without_noise():
    registry().register(trust_plugins, name="trust-plugins")
    params = {"R": 10, "rounds": 2, "sub_R": 3}
    lying = audit_selection(RunSpec(sampler="test-lying-rounds", sampler_params=params, **SPEC), Cache(), trials=300)
    assert lying.flagged and lying.bounds["exact_telling_numbers"] >= 1 and lying.bounds["exact_replies"] == 0.0
    honest = audit_selection(RunSpec(sampler="ecos-rounds", sampler_params=params, **SPEC), Cache(), trials=300)
    assert not honest.flagged and honest.bounds["device_calls"] == 2.0
