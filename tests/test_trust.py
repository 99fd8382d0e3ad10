"""The trust model holds against careless and dishonest plugins (README.md, Trust).

Each test would fail on a leak: a route from the cloud process to client rows, a device
call recorded as client-free, exact replies under a declared DP event.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from proxybench import ProxybenchError, RunSpec, create_dataset
from proxybench.audit.blackbox import audit_selection
from proxybench.contract.registry import registry
from proxybench.harness.options import HarnessOptions
from proxybench.run.device_secret import device_secret
from proxybench.run.runner import run
from proxybench.run.scenario import make_scenario
from proxybench.util.cache import Cache

from . import trust_plugins
from .conftest import TINY_DATASET, TINY_RUN

SPEC = {**TINY_RUN, "task": "outsource", "task_params": {"epochs": 1}, "client_domain": "street"}


@pytest.fixture()
def dishonest():
    registry().register(trust_plugins, name="trust-plugins")


def test_a_snooping_sampler_finds_no_client_row_and_no_device_object(dishonest, tmp_path):
    data = create_dataset("digits", **TINY_DATASET).keyed(device_secret(Cache())).load(Cache())  # the harness's rows
    scenario = make_scenario(data, "street", 0.5, 0)
    pool = {trust_plugins.row_hash(r) for r in data.images[scenario.pool_idx]}
    client = np.r_[scenario.client_train_idx, scenario.client_test_idx]
    needles = {trust_plugins.row_hash(r) for r in data.images[client]} - pool
    assert len(needles) > 0.9 * len(client)  # the search has something to find
    record, _ = run(RunSpec(sampler="test-snoop", sampler_params={"needles": ",".join(sorted(needles))}, **SPEC),
                    tmp_path)
    info = record["selection"]["info"]
    assert info["objects_seen"] > 10_000  # it did walk the process
    assert info["client_rows_found"] == 0
    assert info["device_types_found"] == []
    assert all("cloud-pools" in f for f in info["memmaps"]) and info["memmaps"]


def test_a_device_call_without_a_dp_event_is_no_guarantee_whatever_the_sampler_claims(dishonest, tmp_path):
    record, _ = run(RunSpec(sampler="test-exact-mean", **SPEC), tmp_path)
    assert record["privacy"]["epsilon_select"] is None and record["privacy"]["epsilon"] is None
    assert record["sampler_kind"] == "privacy-free" and record["sampler_kind_declared"] == "client-free"
    assert record["privacy"]["device_calls"]["select"] == 1
    assert record["ledger"]["by_phase"]["select"]["up"] > 0


def test_a_selection_without_device_calls_is_client_free_at_epsilon_zero(tmp_path):
    record, _ = run(RunSpec(sampler="random", **SPEC), tmp_path)
    assert record["privacy"]["epsilon_select"] == 0.0 and record["sampler_kind"] == "client-free"
    assert record["device"]["by_phase"].get("select", {"flops": 0})["flops"] == 0
    assert record["privacy"]["device_calls"] == {"select": 0, "task": 0, "scoring": 1, "reference": 0}


def test_the_black_box_audit_flags_a_declared_gaussian_sent_raw(dishonest, tmp_path):
    result = audit_selection(RunSpec(sampler="test-lying-coverage", **SPEC), Cache(), trials=300)
    assert result.flagged and result.bounds["raw_calls"] == 1.0 and result.epsilon_pld is None
    record, _ = run(RunSpec(sampler="test-lying-coverage", **SPEC), tmp_path)
    assert record["privacy"]["epsilon"] is None and record["sampler_kind"] == "privacy-free"
    assert record["privacy"]["declared"]["select"] > 0  # what it claimed, kept beside, never used


def test_the_black_box_audit_passes_ecos_real_program():
    result = audit_selection(RunSpec(sampler="ecos", sampler_params={"R": 10}, **SPEC), Cache(), trials=300)
    assert not result.flagged and result.bounds["exact_replies"] == 0.0
    assert result.epsilon_pld is not None and result.eps_lb <= result.epsilon_pld


def test_composing_two_adjacencies_is_an_error_naming_both(tmp_path):
    spec = RunSpec(sampler="ecos", sampler_params={"R": 10, "adjacency": "replace_one"},
                   **{**TINY_RUN, "client_domain": "street"})
    with pytest.raises(ProxybenchError, match="selection assumes replace_one and task assumes add_remove"):
        run(spec, tmp_path)


def test_target_epsilon_is_calibrated_at_the_runs_delta(tmp_path):
    eps = {}
    for delta in (1e-5, 1e-3):
        spec = RunSpec(sampler="ecos", sampler_params={"R": 10, "target_epsilon": 1.0}, delta=delta, **SPEC)
        record, _ = run(spec, tmp_path)
        eps[delta] = (record["privacy"]["epsilon_select"], record["selection"]["info"]["sigma"])
    assert eps[1e-5][0] == pytest.approx(1.0, abs=0.02) and eps[1e-3][0] == pytest.approx(1.0, abs=0.02)
    assert eps[1e-3][1] < eps[1e-5][1]  # a larger delta needs less noise for the same epsilon


def test_tcp_transport_on_loopback_gives_the_same_run(tmp_path):
    spec = RunSpec(sampler="ecos", sampler_params={"R": 10}, **SPEC)
    pipe, _ = run(spec, tmp_path / "pipe")
    tcp, _ = run(spec, tmp_path / "tcp", options=HarnessOptions.from_settings(transport="tcp"))
    assert tcp["harness"]["transport"] == "tcp"
    assert tcp["selection"]["indices_hash"] == pipe["selection"]["indices_hash"]
    for key in ("metrics", "ledger", "privacy"):
        assert json.dumps(tcp[key], sort_keys=True) == json.dumps(pipe[key], sort_keys=True)


def test_the_test_split_cannot_be_scored_during_selection():
    from proxybench.harness.relay import Relay
    from proxybench.wire.link import serialize
    from proxybench.wire.scoring import SCORING_PROGRAM

    asked = []
    relay = Relay(lambda request: asked.append(request) or serialize({
        "ok": True, "payload": np.zeros(3, np.uint8), "flops": 0, "cpu_seconds": 0.0}))
    refused = relay.forward({"op": "call", "program": SCORING_PROGRAM, "phase": "model", "label": "x",
                             "payload": np.zeros(4, np.uint8)})
    assert b"cannot score" in refused and relay.scoring_calls == 0 and not asked
    refused = relay.forward({"op": "reference", "payload": np.zeros(4, np.uint8)})
    assert b"cannot score" in refused and relay.reference_calls == 0 and not asked
    relay.stage = "task"
    relay.forward({"op": "call", "program": SCORING_PROGRAM, "phase": "model", "label": "x",
                   "payload": np.zeros(4, np.uint8)})
    assert relay.scoring_calls == 1 and relay.calls["task"] == 0


def test_a_device_that_serves_on_its_own_gives_the_same_run(tmp_path):
    """``proxybench device serve`` in its own process, reached with --device-address, as a real device would be."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "proxybench.cli", "device", "serve", "--port", str(port),
                               "--sessions", "1"], stdout=subprocess.PIPE, text=True)
    try:
        assert "listening" in server.stdout.readline()  # up before the harness connects, however slow the machine
        spec = RunSpec(sampler="ecos", sampler_params={"R": 10}, **SPEC)
        served, _ = run(spec, tmp_path / "served", options=HarnessOptions.from_settings(device_address=f"127.0.0.1:{port}"))
        assert server.wait(timeout=60) == 0  # one session, then it stops
    finally:
        server.kill()
    local, _ = run(spec, tmp_path / "local")
    assert {k: served["harness"][k] for k in ("cloud", "device", "transport")} == {
        "cloud": "process", "device": "remote", "transport": "tcp"}
    assert served["selection"]["indices_hash"] == local["selection"]["indices_hash"]
    assert served["ledger"] == local["ledger"] and served["metrics"] == local["metrics"]
