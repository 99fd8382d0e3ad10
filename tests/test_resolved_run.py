"""A run is resolved once (ResolvedRun) and crosses to its processes as typed messages."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest
from dp_accounting import GaussianDpEvent

from proxybench import ProxybenchError, RunSpec
from proxybench.cli import main
from proxybench.contract.registry import Registry
from proxybench.contract.sampler import Selection
from proxybench.contract.task import TaskResult
from proxybench.harness.messages import (
    ChildStart,
    CloudSetup,
    DevicePrivate,
    DeviceProvision,
    DeviceReady,
    SelectionReport,
    TaskReport,
)
from proxybench.harness.options import HarnessOptions
from proxybench.harness.remote_error import ChildFailure, RemoteError
from proxybench.run.resolved import ResolvedRun
from proxybench.run.runner import run
from proxybench.util.settings import Settings
from proxybench.wire.link import deserialize, serialize

from .conftest import TINY_ARGS, TINY_RUN


def test_one_proxybench_run_looks_each_plugin_up_resolves_and_builds_the_dataset_once(tmp_path, monkeypatch):
    """Counted in the harness process (this one) during a tiny ``proxybench run``: the spy wraps the registry's
    ``get``, ``RunSpec.resolve`` (names, parameters, plugins built: what ``validate`` was) and the dataset's
    constructor. The cloud and device are processes of their own; the cloud looks up its sampler and task once there.
    """
    from proxybench.plugins.datasets.digits import DigitsDomains

    gets, counts = collections.Counter(), collections.Counter()
    get, resolve, init = Registry.get, RunSpec.resolve, DigitsDomains.__init__
    monkeypatch.setattr(Registry, "get", lambda self, kind, name: gets.update([(kind, name)]) or get(self, kind, name))
    monkeypatch.setattr(RunSpec, "resolve", lambda self, *a: counts.update(["resolve"]) or resolve(self, *a))
    monkeypatch.setattr(DigitsDomains, "__init__", lambda self, *a, **k: counts.update(["dataset"]) or init(self, *a, **k))
    assert main(["run", "--param", "R=10", "--budget", "60", "--results-dir", str(tmp_path), *TINY_ARGS]) == 0
    assert dict(gets) == {("sampler", "ecos"): 1, ("task", "autolabel"): 1, ("dataset", "digits"): 1,
                          ("weights", "random"): 1}
    assert counts == {"resolve": 1, "dataset": 1}


def test_a_resolved_run_carries_its_options_and_a_bare_spec_takes_the_settings_in_use(tmp_path):
    resolved = ResolvedRun.of(RunSpec(sampler="random", **TINY_RUN), HarnessOptions.from_settings(transport="tcp"))
    assert resolved.spec == resolved.spec.resolved() and resolved.run_id == RunSpec(sampler="random", **TINY_RUN).run_id
    assert resolved.sampler.name == "random" and resolved.dataset.params() == resolved.spec.dataset_params
    assert resolved.options.transport == "tcp"
    with pytest.raises(ValueError, match="carries its harness options"):
        run(resolved, tmp_path, options=HarnessOptions())
    with pytest.raises(ProxybenchError, match=r"unknown device transport 'udp'; choose pipe or tcp"):
        HarnessOptions.from_settings(Settings(device_transport="udp"))


def _crossed(message):
    """What the other end reads: the message through the wire's bytes."""
    return type(message).from_message(deserialize(serialize(message.to_message())))


def test_the_messages_arrive_as_they_were_sent():
    phi = {"phi_backbone": "resnet10t", "phi_state": np.arange(4, dtype=np.uint8), "phi_meta": json.dumps({"k": 1})}
    start = ChildStart(threads=2, environment={"OMP_NUM_THREADS": "2"}, settings=Settings(torch_device="cpu"), phi=phi)
    images = np.zeros((3, 4, 4, 3), np.uint8)
    got = _crossed(DeviceProvision(start, images, None, np.arange(3)))
    assert got.start.settings == start.settings and got.start.environment == start.environment and got.labels is None
    assert set(got.start.phi) == set(phi) and np.array_equal(got.start.phi["phi_state"], phi["phi_state"])
    private = _crossed(DevicePrivate(None, "run", 1e-5, 0.5, 0.0, images, np.arange(3)))
    assert (private.secret, private.run_key, private.delta, private.epsilon_budget) == (None, "run", 1e-5, 0.5)
    assert _crossed(DeviceReady({"device": {"mechanism": "none"}}, None)) == DeviceReady({"device": {"mechanism": "none"}}, None)
    setup = _crossed(CloudSetup(start, "/s", "/c", "/p", {"pool": "x"}, ("mod",), "ecos", {"R": 10}, "autolabel",
                                {"k": 5}, 60, 1, 1e-5, 10, None, np.array([0, -1]), np.array([0.7, 0.3])))
    assert (setup.sampler_params, setup.task_params, setup.pool_key, setup.plugin_modules) == (
        {"R": 10}, {"k": 5}, {"pool": "x"}, ("mod",))
    assert setup.pool_labels is None and setup.oracle_shares.tolist() == [0.7, 0.3]
    chosen = Selection(np.array([3, 1], np.int32), GaussianDpEvent(5.0), None, "add_remove", {"n": np.int64(2)})
    got = _crossed(SelectionReport(chosen)).selection
    assert got.indices.dtype == np.int64 and got.indices.tolist() == [3, 1] and got.info == {"n": 2}
    assert got.privacy == GaussianDpEvent(5.0) and got.adjacency == "add_remove" and got.weights is None
    result = _crossed(TaskReport(TaskResult({"accuracy": np.float64(0.5)}, GaussianDpEvent(2.0), None))).result
    assert result == TaskResult({"accuracy": 0.5}, GaussianDpEvent(2.0), None)
    with pytest.raises(ProxybenchError, match="expected a 'selection' message, got 'result'"):
        SelectionReport.from_message({"op": "result"})
    with pytest.raises(ProxybenchError, match="device provisioning failed: ValueError: bad"):
        DeviceReady.from_message({"ok": False, "error": "ValueError: bad"})


def test_a_child_failure_is_one_line_for_the_user_and_a_traceback_otherwise():
    try:
        raise ProxybenchError("budget 5000 is larger than the pool")
    except ProxybenchError as exc:
        user = ChildFailure.from_message(ChildFailure.of(exc).to_message())
    assert type(user.exception()) is ProxybenchError and str(user.exception()) == "budget 5000 is larger than the pool"
    try:
        raise KeyError("x")
    except KeyError as exc:
        crash = ChildFailure.from_message(ChildFailure.of(exc).to_message()).exception()
    assert isinstance(crash, RemoteError) and crash.message == "KeyError: 'x'" and "raise KeyError" in crash.remote_traceback
