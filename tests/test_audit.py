"""Privacy audit: the bounds are right on the exact Gaussian, and broken mechanisms are flagged (fast mode, 1e5 trials)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import numpy as np
import pytest
from scipy import stats

from proxybench import AuditMechanism, ProxybenchError, gaussian_event, sigma_for_epsilon
from proxybench.audit.declared import audit_plugin, half_noise_control, plugin_mechanism
from proxybench.audit.report import EXIT_CONTROL_MISSED, EXIT_OK, EXIT_VIOLATION, AuditReport
from proxybench.cli.audit import add_audit_command
from proxybench.privacy.accounting import epsilon
from proxybench.privacy.attack import run_audit
from proxybench.privacy.bounds import (
    clopper_pearson_upper,
    epsilon_from_rates,
    gaussian_mechanism_epsilon,
    gdp_delta,
    gdp_epsilon,
    gdp_mu_from_rates,
)
from proxybench.privacy.mechanism import gaussian_reference

FAST = 100_000
SIGMA_EPS1 = sigma_for_epsilon(1.0, 1.0)  # accountant epsilon 1 at delta 1e-5


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="proxybench")
    add_audit_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


# ---------------------------------------------------------------- formulas


def test_clopper_pearson_upper_closed_forms():
    n, alpha = 1000, 0.05
    assert clopper_pearson_upper(0, n, alpha) == pytest.approx(1 - alpha ** (1 / n))
    assert clopper_pearson_upper(n, n, alpha) == 1.0
    assert clopper_pearson_upper(100, n, alpha) > 0.1


def test_epsilon_from_rates():
    d = 1e-5
    assert epsilon_from_rates(0.1, 0.2, d) == pytest.approx(math.log((1 - d - 0.2) / 0.1))
    assert epsilon_from_rates(0.6, 0.5, d) == 0.0
    assert epsilon_from_rates(0.0, 0.0, d) == math.inf or epsilon_from_rates(0.0, 0.0, d) > 100


def test_gdp_curve_and_inverse():
    for mu in (0.1, 0.27, 1.0, 3.0):
        eps = gdp_epsilon(mu, 1e-5)
        assert gdp_delta(eps, mu) == pytest.approx(1e-5, rel=1e-6)
    # the GDP epsilon of the Gaussian mechanism agrees with the PLD accountant
    for sigma in (SIGMA_EPS1, 5.0, 20.0):
        assert gaussian_mechanism_epsilon(sigma, 1.0, 1e-5) == pytest.approx(epsilon(gaussian_event(sigma, 1.0)), rel=2e-3)
    # mu from exact rates of N(0,1) vs N(mu,1) recovers mu at any threshold
    for t in (-1.0, 0.3, 2.0):
        assert gdp_mu_from_rates(stats.norm.sf(t), stats.norm.cdf(t - 0.4)) == pytest.approx(0.4)
    assert gdp_epsilon(0.0, 1e-5) == 0.0


# ---------------------------------------------------------------- known epsilon: the exact Gaussian


def test_exact_gaussian_bounds_are_tight_and_valid():
    mech = gaussian_reference(SIGMA_EPS1)
    r = run_audit(mech, trials=FAST, seed=1)
    assert r.epsilon_pld == pytest.approx(1.0, abs=1e-6)
    assert r.epsilon_rdp > r.epsilon_pld
    assert 0.8 <= r.eps_lb_gdp <= 1.0  # tight, and a lower bound
    assert 0.0 < r.eps_lb <= 1.0  # the direct bound is weaker at 1e5 trials
    assert not r.flagged and r.ok
    mu = 1.0 / SIGMA_EPS1
    assert r.mu_lb_gdp <= mu
    assert r.auroc == pytest.approx(stats.norm.cdf(mu / math.sqrt(2)), abs=0.005)
    assert 0.0 < r.tpr_at_fpr_1e_3 < 0.02
    assert r.tightness_gdp == pytest.approx(r.eps_lb_gdp / r.epsilon_pld)
    assert r.threshold_selection == "split-half" and r.confidence == 0.95


def test_audit_is_deterministic_per_seed():
    mech = gaussian_reference(4.0, dim=3)
    a, b = run_audit(mech, 2000, seed=3), run_audit(mech, 2000, seed=3)
    assert a.eps_lb_gdp == b.eps_lb_gdp and a.auroc == b.auroc
    assert run_audit(mech, 2000, seed=4).auroc != a.auroc


# ---------------------------------------------------------------- broken mechanisms are flagged


def test_half_noise_is_flagged():
    r = run_audit(half_noise_control(gaussian_reference(SIGMA_EPS1)), trials=FAST, control="half-noise")
    assert r.flagged and r.ok
    assert r.eps_lb_gdp > 1.5  # true epsilon of sigma/2 is about 2.8


def test_broken_accountant_is_flagged():
    mech = gaussian_reference(SIGMA_EPS1)
    lying = dataclasses.replace(mech, event=gaussian_event(2 * SIGMA_EPS1, 1.0))  # claims twice the noise
    r = run_audit(lying, trials=FAST)
    assert r.flagged and not r.ok
    assert AuditReport([r]).exit_code == EXIT_VIOLATION


def test_report_exit_codes_and_json(tmp_path):
    ok = run_audit(gaussian_reference(SIGMA_EPS1), trials=2000)
    missed = dataclasses.replace(ok, control="half-noise")  # a control that was not flagged
    assert AuditReport([ok]).exit_code == EXIT_OK
    assert AuditReport([ok, missed]).exit_code == EXIT_CONTROL_MISSED
    path = AuditReport([ok]).save(tmp_path / "a.json")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # written whole, no temporary file left
    data = json.loads(path.read_text())
    assert data["results"][0]["epsilon_accountant"] == pytest.approx(1.0)
    assert {"eps_lb", "eps_lb_gdp", "auroc", "tightness", "trials", "sigma", "delta"} <= set(data["results"][0])


def test_mechanism_validation():
    with pytest.raises(ProxybenchError, match="shapes"):
        AuditMechanism("x", 1.0, 1.0, "add_remove", gaussian_event(1.0, 1.0), np.zeros(2), np.zeros(3),
                       lambda v, rng, t: v)
    same = AuditMechanism("x", 1.0, 1.0, "add_remove", gaussian_event(1.0, 1.0), np.zeros(2), np.zeros(2),
                          lambda v, rng, t: np.broadcast_to(v, (t, *v.shape)))
    with pytest.raises(ProxybenchError, match="same exact output"):
        run_audit(same, 1000)


# ---------------------------------------------------------------- the plugins' mechanisms


@pytest.mark.parametrize("adjacency, moved", [("add_remove", 1), ("replace_one", 2)])
def test_ecos_neighbours_are_worst_case(adjacency, moved):
    mech = plugin_mechanism("sampler", "ecos", {"adjacency": adjacency})
    diff = mech.values_d_prime - mech.values_d
    assert np.count_nonzero(diff) == moved and set(np.abs(diff[diff != 0])) == {1.0}
    assert mech.neighbour_distance == pytest.approx(mech.sensitivity)
    assert mech.values_d.shape == (100,)


def test_knn_neighbour_flips_a_tied_vote():
    mech = plugin_mechanism("task", "autolabel", {"k": 300})
    assert mech.values_d[0] == mech.values_d[1] == 150
    assert mech.values_d_prime[0] == 151 and mech.values_d_prime[1] == 149
    assert mech.neighbour_distance == pytest.approx(math.sqrt(2)) == mech.sensitivity
    odd = plugin_mechanism("task", "autolabel", {"k": 7})
    assert odd.values_d.argmax() == 1 and odd.values_d_prime.argmax() == 0


def test_ecos_audit_passes_and_controls_are_flagged():
    results = audit_plugin("sampler", "ecos", {"target_epsilon": 1.0}, trials=FAST)
    assert [r.control for r in results] == [None, "half-noise", "replace-one"]
    real = results[0]
    assert real.epsilon_pld == pytest.approx(1.0, abs=1e-3)
    assert 0.8 <= real.eps_lb_gdp <= real.epsilon_pld
    assert all(r.ok for r in results)
    assert AuditReport(results).exit_code == EXIT_OK


def test_missing_noise_in_the_device_path_is_flagged(monkeypatch):
    """privatize goes through the plugin's own privatizing function: break it and the audit sees it."""
    from proxybench.plugins.samplers import coverage

    monkeypatch.setattr(coverage, "privatize_counts", lambda counts, sigma, rng: coverage.gaussian_noise(counts, sigma / 3, rng))
    results = audit_plugin("sampler", "ecos", {}, trials=20_000, controls=False)
    assert results[0].flagged
    assert AuditReport(results).exit_code == EXIT_VIOLATION


def test_knn_audit_uses_the_task_noise(monkeypatch):
    from proxybench.plugins.tasks import autolabel

    results = audit_plugin("task", "autolabel", {"sigma": 5.0}, trials=FAST)
    assert all(r.ok for r in results) and results[0].eps_lb_gdp > 0.5 * results[0].epsilon_pld
    monkeypatch.setattr(autolabel, "privatize_votes", lambda votes, sigma, rng: votes + rng.normal(0, sigma / 3, votes.shape))
    assert audit_plugin("task", "autolabel", {"sigma": 5.0}, trials=20_000, controls=False)[0].flagged


# ---------------------------------------------------------------- the command


def test_cli_audit_writes_json(tmp_path, capsys):
    out = tmp_path / "audit.json"
    code = _cli(["audit", "--sampler", "ecos", "--task", "autolabel", "--param", "sampler.sigma=4",
                 "--param", "task.sigma=6", "--trials", "50000", "--no-black-box", "--out", str(out)])
    assert code == EXIT_OK
    data = json.loads(out.read_text())
    names = [(r["plugin"], r["control"]) for r in data["results"]]
    assert names == [("ecos", None), ("ecos", "half-noise"), ("ecos", "replace-one"),
                     ("autolabel", None), ("autolabel", "half-noise")]
    assert data["results"][0]["sigma"] == 4.0 and data["results"][3]["sigma"] == 6.0
    assert "privacy audit" in capsys.readouterr().out


def test_cli_audit_errors():
    with pytest.raises(ProxybenchError, match="ecos"):  # names the plugins that can be audited
        _cli(["audit", "--sampler", "random", "--no-black-box"])
    with pytest.raises(ProxybenchError, match="unknown parameter"):
        _cli(["audit", "--sampler", "ecos", "--param", "nope=1"])
    with pytest.raises(ProxybenchError, match="--sampler"):
        _cli(["audit"])


def test_cli_black_box_audits_any_sampler(tmp_path):
    """random made no device call: nothing to bound, ok; its row says so."""
    from .conftest import TINY_DATASET

    out = tmp_path / "audit.json"
    spec = ["--spec", "backbone=resnet10t", "--spec", "weights=random", "--spec", "budget=60",
            *sum((["--spec", f"dataset.{k}={v}"] for k, v in TINY_DATASET.items()), [])]
    assert _cli(["audit", "--sampler", "random", *spec, "--black-box-trials", "200", "--out", str(out)]) == EXIT_OK
    (row,) = json.loads(out.read_text())["results"]
    assert row["epsilon_pld"] == 0.0 and row["eps_lb"] == 0.0 and "no device use" in row["description"]


def test_cli_exit_code_on_violation(monkeypatch):
    from proxybench.plugins.samplers import coverage

    monkeypatch.setattr(coverage, "privatize_counts", lambda counts, sigma, rng: np.array(counts, dtype=float))
    assert _cli(["audit", "--sampler", "ecos", "--trials", "2000", "--no-controls"]) == EXIT_VIOLATION
