"""One run's session in the harness, the trusted process, between a cloud process and a device process.

It alone holds the whole dataset and the ground truth (domain ids, the client split).
It writes the cloud's pool (pool rows only) to the cache, provisions the device with
the client's rows, starts both processes, and relays every device request through the
relay, which counts the bytes that cross (the ledger), the device's compute by phase
(the meter), and which stage used the device, so privacy marks follow what a run did.
Plugins run only in the two child processes; nothing a plugin runs can reach the
harness's memory. What crosses to them is typed (``harness.messages``).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from typing import Any

import numpy as np

from ..contract.images import ImageRows
from ..contract.registry import registry
from ..contract.sampler import Selection
from ..contract.task import TaskResult
from ..contract.weights import PoolData, build_extractor
from ..harness.children import Children, child_start
from ..harness.messages import (
    CloudSetup,
    CloudStarted,
    DevicePrivate,
    DeviceProvision,
    DeviceReady,
    SelectionReport,
    TaskReport,
    TaskStart,
)
from ..harness.relay import Call, Relay, relay_until
from ..harness.remote_error import ChildFailure
from ..util.cache import Cache
from ..util.errors import ProxybenchError
from ..wire.link import Message, as_field, deserialize, serialize
from ..wire.phases import TASK
from ..wire.timing import TimeGrid
from .batches import read_in_batches
from .cloud_pool import cloud_pool
from .device_secret import device_secret
from .resolved import ResolvedRun
from .scenario import make_scenario
from .spec import RunSpec
from .timings import Timings


class RunSession:
    """One run between harness, cloud and device: ``with RunSession(run, cache) as s: s.select(); s.run_task()``.

    ``run`` is a ``ResolvedRun``; a bare ``RunSpec`` (the studies, a selection only) is resolved
    here under the settings in use. Children start first, so their imports overlap with the
    harness loading data.
    """

    def __init__(self, run: ResolvedRun | RunSpec, cache: Cache, timings: Timings | None = None):
        self.run = run if isinstance(run, ResolvedRun) else ResolvedRun.of(run)
        self.spec = self.run.spec
        self.dataset = self.run.dataset
        self.cache = cache
        self.timings = timings if timings is not None else Timings()

    def __enter__(self) -> RunSession:
        with self.timings.stage("children"):
            self.children = Children(self.run.options)
        try:
            self._prepare()
        except BaseException:
            self.children.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.children.close()
        if getattr(self, "scratch", None):
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _prepare(self) -> None:
        spec, cache, timings, options = self.spec, self.cache, self.timings, self.run.options
        secret = device_secret(cache)
        with timings.stage("data"):
            self.dataset = self.dataset.keyed(secret)  # its private part and test splits are drawn with the secret
            data = self.dataset.load(cache)
            self.data_key = self.dataset.cache_key()  # once: a folder dataset stats every file for it
            self.scenario = make_scenario(data, spec.client_domain, spec.client_fraction, spec.seed,
                                          spec.pool_has_client_domain, data_key=self.data_key)
            self.run.check_sizes(len(self.scenario.pool_idx), self.scenario.client_records)  # before phi and features
        scenario = self.scenario
        with timings.stage("extractor"):
            pool = PoolData(scenario.pool_images, scenario.pool_labels, key=scenario.key)
            self.extractor = build_extractor(spec.backbone, spec.weights, pool, cache, seed=spec.seed,
                                             layer=spec.feature_layer, source_class=self.run.weights)
        with timings.stage("pool_features"):
            self.pool_dir = cloud_pool(scenario, self.extractor, cache, self.data_key, self.dataset.stored_features(data))
        with timings.stage("provision"):  # both children set up and ready
            self.relay = Relay(self.children.exchange)
            start = child_start(options, self.extractor)
            device = self.children.device
            # Two messages: the program worker is forked between them, so it never holds the test split or the secret.
            train, test = scenario.client_train_idx, scenario.client_test_idx
            device.send_bytes(serialize(DeviceProvision(
                start, images=read_in_batches(ImageRows(data.images, train)),
                labels=data.labels[train] if self.run.task.device_has_labels else None, groups=data.groups[train],
            ).to_message()))
            self.secret_hash = hashlib.sha256(secret).hexdigest()[:16]
            device.send_bytes(serialize(DevicePrivate(
                secret=np.frombuffer(secret, dtype=np.uint8), run_key=spec.run_id, delta=spec.delta,
                epsilon_budget=options.device_epsilon,
                # The in-process reference measures the runs without the boundary: no time grid either.
                grid_base=0.0 if options.isolation == "thread" else TimeGrid.base,
                test_images=read_in_batches(ImageRows(data.images, test)), test_labels=data.labels[test],
            ).to_message()))
            ready = DeviceReady.from_message(deserialize(device.recv_bytes()))
            self.sandbox = dict(ready.sandbox)
            self.timing_bits = ready.grid_bits  # None: no time grid (the in-process reference)
            self.oracle = oracle = self.run.sampler.kind == "oracle"
            self.scratch = tempfile.mkdtemp(prefix="proxybench-cloud-")
            cloud_cache = cache.root / "cloud"
            cloud_cache.mkdir(parents=True, exist_ok=True)
            self.children.cloud.send_bytes(serialize(CloudSetup(
                start, scratch=self.scratch, cache_root=str(cloud_cache), pool_dir=str(self.pool_dir), pool_key=scenario.key,
                plugin_modules=tuple(registry().local_modules()), sampler=spec.sampler, sampler_params=spec.sampler_params,
                task=spec.task, task_params=spec.task_params, budget=spec.budget, seed=spec.seed, delta=spec.delta,
                num_classes=len(data.class_names),
                pool_labels=scenario.pool_labels if self.run.task.pool_labels_visible else None,
                oracle_client_domain=scenario.pool_client_domain if oracle else None,
                oracle_shares=np.array(scenario.mix.weights) if oracle else None,
            ).to_message()))
            answer = deserialize(self.children.cloud.recv_bytes())
            if answer.get("op") == ChildFailure.OP:
                raise ProxybenchError(f"the cloud process failed to start: {answer.get('error')}")
            self.sandbox["cloud"] = CloudStarted.from_message(answer).sandbox

    def _pump(self, until: str) -> Message:
        return relay_until(self.children.cloud, self.relay, until)

    def select(self) -> Selection:
        """Let the cloud's sampler choose; the selection as the harness received it."""
        with self.timings.stage("select"):
            env = self._pump(SelectionReport.OP)
        self.relay.stage = TASK
        self.selection = SelectionReport.from_message(env).selection
        self.children.cloud.send_bytes(serialize(TaskStart(self.scenario.pool_labels).to_message()))
        return self.selection

    def run_task(self) -> TaskResult:
        """Let the cloud run the task on the selection; its metrics and the DP event it declares."""
        with self.timings.stage("task"):
            env = self._pump(TaskReport.OP)
        return TaskReport.from_message(env).result

    def replay(self, call: Call, trials: int, neighbour: str, seed: int) -> np.ndarray:
        """``trials`` device replies to one recorded request, on the private set or a neighbour (off the ledger and budget)."""
        program = call.program
        reply = deserialize(self.children.exchange(serialize({
            "op": "replay", "program": program, "payload": as_field(call.payload), "release": call.release,
            "trials": trials, "neighbour": neighbour, "seed": seed})))
        if not reply.get("ok"):
            raise ProxybenchError(f"device replay of {program}: {reply.get('error')}")
        return reply["replies"]

