"""Privacy by construction: each route a dishonest plugin used to learn the device's data is closed by the runtime.

Unit tests hold the runtime's pieces (units, typed replies, the secret noise, the budget, the
time grid); one run of ``test-adversary`` tries every route from a real cloud process against a
real, confined device.
"""

from __future__ import annotations

import hashlib
import os
import time

import numpy as np
import pytest

from proxybench import GaussianHistogram, GaussianSum, KnnVote, ProxybenchError, RunSpec, create_dataset
from proxybench.contract.registry import registry
from proxybench.harness.local import local_device
from proxybench.harness.options import HarnessOptions
from proxybench.privacy.accounting import epsilon
from proxybench.privacy.release import Units
from proxybench.run.device_secret import device_secret
from proxybench.run.runner import run
from proxybench.run.scenario import make_scenario
from proxybench.util.cache import Cache
from proxybench.util.sandbox import landlock_abi
from proxybench.wire.context import DeviceContext
from proxybench.wire.runtime import DeviceRuntime, InlinePrograms, noise_generator
from proxybench.wire.timing import TimeGrid

from . import adversarial_plugins
from .conftest import TINY_DATASET, TINY_RUN, FixedExtractor


def rows_bins(ctx, msg):
    return np.asarray(msg["bins"], dtype=np.int64)


def rows_values(ctx, msg):
    return np.asarray(msg["values"], dtype=np.float64)


def sleepy(ctx, msg):
    time.sleep(float(ctx.features()[0, 0]))
    return {"done": 1.0}


def reads_test_split(ctx, msg):
    return {"n": float(len(ctx.test_images))}


def context(n: int, groups=None, feats=None) -> DeviceContext:
    feats = np.zeros((n, 2), np.float32) if feats is None else feats
    return DeviceContext(np.zeros((n, 2, 2, 3), np.uint8), np.arange(n) % 2, FixedExtractor(feats), groups=groups)


def test_a_unit_of_augmented_rows_moves_a_histogram_by_its_bound_not_by_its_rows():
    groups = np.r_[np.zeros(8, int), np.arange(1, 5)]  # one original with 8 augmented copies, 4 single originals
    units = Units.from_groups(groups)
    bins = np.r_[np.zeros(8, int), [1, 1, 2, -1]]
    exact = GaussianHistogram(noise_multiplier=1e-9, bins=3, bound=1.0).apply(bins, units, None, {},
                                                                               np.random.default_rng(0))
    np.testing.assert_allclose(exact, [1.0, 2.0, 1.0], atol=1e-6)  # the 8 copies count once
    spread = np.r_[np.arange(8) % 2, [2, 2, 2, 2]]  # the 8 copies over two bins: (4, 4) clipped to norm 1
    exact = GaussianHistogram(noise_multiplier=1e-9, bins=3, bound=1.0).apply(spread, units, None, {},
                                                                               np.random.default_rng(0))
    np.testing.assert_allclose(exact, [np.sqrt(0.5), np.sqrt(0.5), 4.0], atol=1e-6)


def test_a_gaussian_sum_clips_each_unit_and_its_event_is_the_noise_over_the_bound():
    units = Units.from_groups(np.array([0, 0, 0, 1]))
    values = np.array([[3.0, 0.0], [3.0, 0.0], [3.0, 0.0], [0.0, 0.5]])
    release = GaussianSum(noise_multiplier=1e-9, dim=2, bound=2.0)
    np.testing.assert_allclose(release.apply(values, units, None, {}, np.random.default_rng(0)), [2.0, 0.5], atol=1e-6)
    assert release.event().noise_multiplier == pytest.approx(1e-9)
    assert GaussianSum(noise_multiplier=2.0, dim=2, bound=2.0, adjacency="replace_one").event().noise_multiplier == 1.0


def test_knn_votes_count_each_unit_once():
    """k = 3 nearest units: the 5 copies of unit 0 (label 1) next to the query cast one vote, not five."""
    groups = np.r_[np.zeros(5, int), 1, 2, 3]
    keys = np.r_[np.zeros((5, 1)), [[1.0], [2.0], [3.0]]].astype(np.float32)
    labels = np.r_[np.ones(5, int), 0, 0, 1]
    release = KnnVote(noise_multiplier=1e-6, k=3, num_classes=2)
    out = release.apply(keys, Units.from_groups(groups), labels, {"queries": np.zeros((1, 1), np.float32)},
                        np.random.default_rng(0))
    assert out.tolist() == [0]  # votes: unit 0 -> 1, units 1 and 2 -> 0
    per_query = KnnVote(noise_multiplier=20.0, k=3, num_classes=2)
    assert epsilon(per_query.event({"queries": np.zeros((7, 1))})) > epsilon(per_query.event({"queries": np.zeros((1, 1))}))


@pytest.mark.parametrize("program, words", [
    (adversarial_plugins.text_program, ["'leak'", "str", "no text"]),
    (adversarial_plugins.complex_program, ["'leak'", "complex"]),
    (adversarial_plugins.raising_program, ["ValueError: the device program failed"]),
])
def test_replies_are_typed_and_exceptions_cross_without_their_text(program, words):
    device, relay = local_device(context(4, feats=np.full((4, 2), 0.123456, np.float32)))
    with pytest.raises(ProxybenchError) as info:
        device.call(program, {})
    for word in words:
        assert word in str(info.value)
    assert "0.123456" not in str(info.value)
    assert relay.transcript[0].raw


def test_a_program_cannot_reach_the_test_split():
    device, relay = local_device(context(4))
    with pytest.raises(ProxybenchError, match="AttributeError: the device program failed"):
        device.call(reads_test_split, {})
    assert not hasattr(context(2), "test_images")


def test_the_noise_comes_from_the_secret_not_from_anything_the_cloud_knows():
    draw = lambda secret, key: noise_generator(secret, key).normal(size=4)  # noqa: E731
    np.testing.assert_array_equal(draw(b"s" * 32, "run"), draw(b"s" * 32, "run"))  # reproducible on one cache
    assert not np.allclose(draw(b"s" * 32, "run"), draw(b"t" * 32, "run"))  # another secret, other noise
    assert not np.allclose(draw(b"s" * 32, "run"), draw(b"s" * 32, "other"))  # another run, other noise


def test_the_device_budget_refuses_a_release_past_it_and_every_raw_reply():
    ctx = context(6)
    device, relay = local_device(ctx, epsilon_budget=1.0)
    release = GaussianHistogram(noise_multiplier=5.0, bins=2)  # epsilon 0.73 at delta 1e-5
    device.call(rows_bins, {"bins": np.zeros(6, int)}, release=release)
    with pytest.raises(ProxybenchError, match=r"device budget: refused, this release would take epsilon to 1\.06.*"
                                              r"spent 0\.72.* has for the session, 1 "):
        device.call(rows_bins, {"bins": np.zeros(6, int)}, release=release)
    with pytest.raises(ProxybenchError, match="device budget: refused, a raw reply"):
        device.call(adversarial_plugins.own_noise_program, {})
    assert relay.epsilon_spent == pytest.approx(0.7255, abs=1e-3)


def test_a_reply_leaves_on_the_time_grid_whatever_the_program_took():
    """Two durations that differ with the data, 0.105 s and 0.115 s, end on the same grid point (0.119 s)."""
    times = []
    for seconds in (0.105, 0.115):
        ctx = context(1, feats=np.full((1, 2), seconds, np.float32))
        runtime = DeviceRuntime(InlinePrograms(ctx), np.random.default_rng(0), 1e-5, grid=TimeGrid())
        device, _ = local_device(ctx)
        from proxybench.wire.link import as_field, serialize

        start = time.perf_counter()
        runtime.handle(serialize({"op": "call", "program": "tests.test_by_construction:sleepy",
                                  "payload": as_field(serialize({})), "release": ""}))
        times.append(time.perf_counter() - start)
    assert TimeGrid().next_point(0.105) == TimeGrid().next_point(0.115) == pytest.approx(0.05 * 2 ** (5 / 4))
    assert abs(times[0] - times[1]) < 0.01 and min(times) >= 0.118


@pytest.mark.skipif(landlock_abi() == 0, reason="Landlock is not available on this platform")
def test_a_dishonest_sampler_gets_nothing_outside_the_mechanisms(tmp_path):
    registry().register(adversarial_plugins, name="adversarial-plugins")
    data = create_dataset("digits", **TINY_DATASET).keyed(device_secret(Cache())).load(Cache())  # the harness's rows
    scenario = make_scenario(data, "street", 0.5, 0)
    rows = {name: f"{data.images[idx[0]].tobytes()[:16].hex()}:{hashlib.sha256(data.images[idx[0]].tobytes()[:512]).hexdigest()}"
            for name, idx in (("train_row", scenario.client_train_idx), ("test_row", scenario.client_test_idx))}
    spec = RunSpec(sampler="test-adversary", sampler_params={**rows, "harness_pid": os.getpid()},
                   **{**TINY_RUN, "task": "outsource", "task_params": {"epochs": 1}, "client_domain": "street"})
    record, _ = run(spec, tmp_path)
    info = record["selection"]["info"]
    assert "'leak'" in info["text_error"] and "no text" in info["text_error"]
    assert "complex" in info["complex_error"]
    assert info["exception_error"].endswith("ValueError: the device program failed")
    assert info["file"] == 0.0 and info["drop"] == "" and info["device_scratch_files"] == []
    assert info["proc_readable"] == []  # no other process's memory or environment
    assert info["harness_cmdline"] == ""  # nor the harness's command line, which names the client's domain
    # The worker holds the training rows (the control: its scan finds one) but never held the test split.
    assert info["test_split"] == {"attribute": 0.0, "train_row_found": 1.0, "test_row_found": 0.0}
    assert info["regenerated_error"] > 1.0  # the run seed does not give the device's noise away
    assert info["release_error"] > 0.0
    # Raw calls (and the failed ones) make the run's epsilon null, whatever it declared and claimed to be.
    assert record["privacy"]["epsilon"] is None and record["privacy"]["declared"]["select"] > 0
    assert record["sampler_kind"] == "privacy-free" and record["sampler_kind_declared"] == "client-free"
    assert sum(c["raw"] for c in record["device"]["calls"]) == 7  # all but the histogram release
    sandbox = record["harness"]["sandbox"]
    assert {sandbox[p]["mechanism"] for p in ("cloud", "device", "programs")} == {f"landlock-abi{landlock_abi()}"}


def test_a_device_budget_below_the_selection_refuses_it_before_anything_is_released(tmp_path):
    spec = RunSpec(sampler="ecos", sampler_params={"R": 10},
                   **{**TINY_RUN, "task": "outsource", "task_params": {"epochs": 1}, "client_domain": "street"})
    with pytest.raises(ProxybenchError, match=r"device budget: refused, this release would take epsilon to 0\.7255; spent 0 "):
        run(spec, tmp_path, options=HarnessOptions.from_settings(device_epsilon=0.5))
