"""One run's session in the harness, the trusted process, between a cloud process and a device process.

It alone holds the whole dataset and the ground truth (domain ids, the client split).
It writes the cloud's pool (pool rows only) to the cache, provisions the device with
the client's rows, starts both processes, and relays every device request through the
relay, which counts the bytes that cross (the ledger), the device's compute by phase
(the meter), and which stage used the device, so privacy marks follow what a run did.
Plugins run only in the two child processes; nothing a plugin runs can reach the
harness's memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..contract.images import ImageRows
from ..contract.registry import registry
from ..contract.sampler import Selection
from ..contract.weights import PoolData, build_extractor
from ..harness.children import Children, Isolation, Transport
from ..harness.confinement import harness_settings
from ..harness.relay import Call, Relay
from ..ml.extractor import cached_features, save_rows
from ..privacy.accounting import event_from_json
from ..util.cache import Cache
from ..util.errors import ProxybenchError
from ..wire.link import Message, as_field, deserialize, serialize
from ..wire.phases import TASK
from ..wire.timing import TimeGrid
from .scenario import Scenario, make_scenario
from .spec import RunSpec


class Timings(dict):
    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = round(self.get(name, 0.0) + time.perf_counter() - start, 3)


class RemoteError(RuntimeError):
    """A plugin failed in the cloud or device process; ``remote_traceback`` is where."""

    def __init__(self, message: str, remote_traceback: str = ""):
        super().__init__(message)
        self.message = message
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        return f"{self.message}\n--- in the plugin's process:\n{self.remote_traceback}".rstrip()


@dataclass
class TaskOutcome:
    metrics: dict[str, Any]
    event: Any
    adjacency: str | None


class RunSession:
    """One run between harness, cloud and device: ``with RunSession(spec, cache) as s: s.select(); s.run_task()``.

    Children start first, so their imports overlap with the harness loading data.
    """

    def __init__(self, spec: RunSpec, cache: Cache, timings: Timings | None = None,
                 transport: Transport | None = None, isolation: Isolation = "process",
                 device_address: str | None = None, device_epsilon: float | None = None):
        self.spec = spec
        self.device_epsilon = device_epsilon
        self.cache = cache
        self.timings = timings if timings is not None else Timings()
        self.transport = transport or os.environ.get("PROXYBENCH_DEVICE_TRANSPORT", "pipe")
        self.isolation = isolation
        self.device_address = device_address
        reg = registry()
        self.sampler_cls = reg.get("sampler", spec.sampler)
        self.task_cls = reg.get("task", spec.task)
        self.dataset = reg.create("dataset", spec.dataset, **spec.dataset_params)

    def __enter__(self) -> RunSession:
        self.children = Children(self.isolation, self.transport, self.device_address)
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
        spec, cache, timings = self.spec, self.cache, self.timings
        with timings.stage("data"):
            data = self.dataset.load(cache)
            self.data_key = self.dataset.cache_key()  # once: a folder dataset stats every file for it
            self.scenario = make_scenario(data, spec.client_domain, spec.client_fraction, spec.seed,
                                          spec.pool_has_client_domain, data_key=self.data_key)
        scenario = self.scenario
        with timings.stage("extractor"):
            pool = PoolData(scenario.pool_images, scenario.pool_labels, key=scenario.key)
            self.extractor = build_extractor(spec.backbone, spec.weights, pool, cache, seed=spec.seed,
                                             layer=spec.feature_layer)
        with timings.stage("pool_features"):
            self.pool_dir = self._cloud_pool()
        self.relay = Relay(self.children.exchange)
        settings = {"threads": _threads(), "environment": json.dumps(harness_settings())}
        phi = self.extractor.to_message()
        device = self.children.device
        # Two messages: the program worker is forked between them, so it never holds the test split or the secret.
        device.send_bytes(serialize({
            "op": "provision", **settings, **phi,
            "images": read_in_batches(ImageRows(data.images, scenario.client_train_idx)),
            "labels": data.labels[scenario.client_train_idx] if self.task_cls.device_has_labels else None,
            "groups": data.groups[scenario.client_train_idx],
        }))
        secret = device_secret(cache)
        self.secret_hash = hashlib.sha256(secret).hexdigest()[:16]
        device.send_bytes(serialize({
            "op": "private", "secret": np.frombuffer(secret, dtype=np.uint8), "run_key": spec.run_id,
            "delta": spec.delta, "epsilon_budget": self.device_epsilon,
            # The in-process reference measures the runs without the boundary: no time grid either.
            "grid_base": 0.0 if self.isolation == "thread" else TimeGrid.base,
            "test_images": read_in_batches(ImageRows(data.images, scenario.client_test_idx)),
            "test_labels": data.labels[scenario.client_test_idx],
        }))
        ready = deserialize(device.recv_bytes())
        if not ready.get("ready"):
            raise ProxybenchError(f"device provisioning failed: {ready.get('error')}")
        self.sandbox = json.loads(ready["sandbox"])
        self.timing_bits = ready.get("grid_bits")  # None: no time grid (the in-process reference)
        oracle = self.sampler_cls.kind == "oracle"
        self.oracle = oracle
        self.scratch = tempfile.mkdtemp(prefix="proxybench-cloud-")
        cloud_cache = cache.root / "cloud"
        cloud_cache.mkdir(parents=True, exist_ok=True)
        self.children.cloud.send_bytes(serialize({
            "op": "setup", **settings, **phi, "scratch": self.scratch,
            "plugin_modules": json.dumps(registry().local_modules()),
            "sampler": spec.sampler, "sampler_params": json.dumps(spec.sampler_params),
            "task": spec.task, "task_params": json.dumps(spec.task_params),
            "budget": spec.budget, "seed": spec.seed, "delta": spec.delta,
            "num_classes": len(data.class_names), "pool_dir": str(self.pool_dir),
            "pool_key": json.dumps(scenario.key), "cache_root": str(cloud_cache),
            "pool_labels": scenario.pool_labels if self.task_cls.pool_labels_visible else None,
            "oracle_client_domain": scenario.pool_client_domain if oracle else None,
            "oracle_shares": np.array(scenario.mix.weights) if oracle else None,
        }))
        answer = deserialize(self.children.cloud.recv_bytes())
        if answer.get("op") == "error":
            raise ProxybenchError(f"the cloud process failed to start: {answer.get('error')}")
        self.sandbox["cloud"] = json.loads(answer["sandbox"])

    def _cloud_pool(self) -> Path:
        """The cloud's pool: pool rows only, images and phi, as a cache folder the cloud memory-maps."""
        scenario, extractor, cache = self.scenario, self.extractor, self.cache
        data = scenario.data

        def fill(folder: Path) -> None:
            # Pool rows only, copied a chunk at a time from the (memory-mapped) feature cache: never whole in RAM.
            if extractor.key["pool"] is None:  # phi does not depend on the pool: one cache entry per dataset
                train_idx = np.flatnonzero(~data.is_test)
                feats = cached_features(extractor, ImageRows(data.images, train_idx),
                                        {"data": self.data_key}, cache)
                position = np.full(len(data.images), -1)
                position[train_idx] = np.arange(len(train_idx))
                save_rows(feats, position[scenario.pool_idx], folder / "features.npy")
            else:
                save_rows(cached_features(extractor, scenario.pool_images, {"pool": scenario.key}, cache), None,
                          folder / "features.npy")
            out = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8,
                                            shape=scenario.pool_images.shape)
            read_in_batches(scenario.pool_images, out)
            out.flush()
            del out

        folder = cache.folder("cloud-pools", {"scenario": scenario.key, "extractor": extractor.key}, fill)
        for name in ("features.npy", "images.npy"):  # a cached folder must hold exactly this pool's rows
            rows = np.load(folder / name, mmap_mode="r").shape[0]
            if rows != len(scenario.pool_idx):
                raise ProxybenchError(f"cached cloud pool {folder} has {rows} rows in {name} for a pool of "
                                      f"{len(scenario.pool_idx)}; delete the folder to rebuild it")
        return folder

    def _pump(self, until: str) -> Message:
        """Relay the cloud's device requests until it sends ``until``; its failures become exceptions here."""
        cloud = self.children.cloud
        while True:
            try:
                env = deserialize(cloud.recv_bytes())
            except (EOFError, OSError) as exc:
                raise ProxybenchError("the cloud process ended without an answer (crashed or killed)") from exc
            op = env.get("op")
            if op in ("call", "reference"):
                cloud.send_bytes(self.relay.forward(env))
            elif op == "error":
                if env.get("user_error"):
                    raise ProxybenchError(str(env["error"]))
                raise RemoteError(str(env["error"]), str(env.get("traceback", "")))
            elif op == until:
                return env
            else:
                raise ProxybenchError(f"unexpected {op!r} from the cloud process (waiting for {until!r})")

    def select(self) -> Selection:
        """Let the cloud's sampler choose; the selection as the harness received it."""
        with self.timings.stage("select"):
            env = self._pump("selection")
        self.relay.stage = TASK
        weights = env.get("weights")
        self.selection = Selection(indices=env["indices"].astype(np.int64), privacy=event_from_json(json.loads(env["event"])),
                                   weights=weights if isinstance(weights, np.ndarray) else None,
                                   adjacency=env.get("adjacency"), info=json.loads(env["info"]))
        self.children.cloud.send_bytes(serialize({"op": "task", "pool_labels": self.scenario.pool_labels}))
        return self.selection

    def run_task(self) -> TaskOutcome:
        with self.timings.stage("task"):
            env = self._pump("result")
        return TaskOutcome(json.loads(env["metrics"]), event_from_json(json.loads(env["event"])), env.get("adjacency"))

    def replay(self, call: Call, trials: int, neighbour: str, seed: int) -> np.ndarray:
        """``trials`` device replies to one recorded request, on the private set or a neighbour (off the ledger and budget)."""
        program = call.program
        reply = deserialize(self.children.exchange(serialize({
            "op": "replay", "program": program, "payload": as_field(call.payload), "release": call.release,
            "trials": trials, "neighbour": neighbour, "seed": seed})))
        if not reply.get("ok"):
            raise ProxybenchError(f"device replay of {program}: {reply.get('error')}")
        return reply["replies"]


def read_in_batches(rows: ImageRows, out: np.ndarray | None = None, batch: int = 256) -> np.ndarray:
    """The rows of a (memory-mapped) view, read a batch at a time into ``out``: a dataset is never decoded whole."""
    out = np.empty(rows.shape, dtype=rows.dtype) if out is None else out
    for start in range(0, len(rows), batch):
        out[start : start + batch] = rows[start : start + batch]
    return out


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def scenario_truth(scenario: Scenario, chosen: np.ndarray) -> dict[str, Any]:
    """What the selection was, by the ground truth only the harness holds."""
    from ..contract.images import OUTSIDE_LABEL_SPACE

    return {
        "size": int(len(chosen)),
        "in_domain_share": scenario.in_domain_share(chosen),
        "domain_shares": scenario.domain_shares(chosen),
        "client_domain_shares": scenario.client_shares(scenario.client_train_idx),
        "outside_label_space_share": float((scenario.pool_labels[chosen] == OUTSIDE_LABEL_SPACE).mean()),
        "pool_size": int(len(scenario.pool_idx)),
        "pool_in_domain_share": scenario.in_domain_share(np.arange(len(scenario.pool_idx))),
        "client_train_size": int(len(scenario.client_train_idx)),
        "client_test_size": int(len(scenario.client_test_idx)),
    }


def device_secret(cache: Cache) -> bytes:
    """The benchmark's device secret: made once per cache, kept by the harness, never readable by the cloud.

    It seeds the device runtime's noise (with the run's id), so the same spec on the same
    cache gives the same selection, while nothing the cloud can read determines the noise.
    """
    path = cache.root / "secret" / "device.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(os.urandom(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # the first writer wins; a concurrent run reads its secret
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()
