"""The harness: the trusted process of a run, between a cloud process and a device process.

It alone holds the whole dataset and the ground truth (domain ids, the client split).
It writes the cloud's pool (pool rows only) to the cache, provisions the device with
the client's rows, starts both processes, and relays every device request: it counts
the bytes that cross (the ledger), the device's compute by phase (the meter), and which
stage used the device, so privacy marks follow what a run did. Plugins run only in the
two child processes; nothing a plugin runs can reach the harness's memory.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .cache import Cache
from .cloud import STREAM_DEVICE, cloud_main
from .dataset import ImageRows
from .device import Device, DeviceContext, DeviceRuntime, Meter, as_field, failure
from .device_process import connect, device_main
from .errors import ProxybenchError
from .features import PoolData, build_extractor, cached_features
from .link import PHASES, Ledger, Message, deserialize, serialize
from .privacy import event_from_json
from .registry import registry
from .sampler import Selection
from .scenario import Scenario, make_scenario
from .spec import RunSpec

#: The harness's own program that scores a shipped model: it measures the run, it is not a release.
SCORING_PROGRAM = "proxybench.task:evaluate_program"
Transport = Literal["pipe", "tcp"]
#: ``process``: cloud and device in their own processes (every run). ``thread``: both as threads of
#: the harness, over the same pipes and bytes: an in-process reference for measuring the boundary.
Isolation = Literal["process", "thread"]
TRANSPORTS = ("pipe", "tcp")


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
class Call:
    """One device request the harness relayed: what it cost, and its message (kept for the black-box audit)."""

    stage: str
    phase: str
    program: str
    label: str
    payload: bytes
    bytes_up: int = 0
    flops: int = 0
    cpu_seconds: float = 0.0

    def to_record(self) -> dict[str, Any]:
        return {"stage": self.stage, "phase": self.phase, "program": self.program, "label": self.label,
                "bytes_down": len(self.payload), "bytes_up": self.bytes_up, "flops": self.flops,
                "cpu_seconds": round(self.cpu_seconds, 4)}


@dataclass
class Relay:
    """Counts and forwards the cloud's device requests; the cloud never touches the ledger or the meter.

    ``stage`` is set by the harness ("select" until the cloud hands in its selection, then
    "task"): a request's phase is the stage's, except that the task may name ``model``
    for shipping models, so a sampler cannot book its calls to the task.
    """

    device: Callable[[bytes], bytes]
    ledger: Ledger = field(default_factory=Ledger)
    meter: Meter = field(default_factory=Meter)
    stage: str = "select"
    calls: dict[str, int] = field(default_factory=lambda: {"select": 0, "task": 0})
    scoring_calls: int = 0
    reference_calls: int = 0
    transcript: list[Call] = field(default_factory=list)

    def phase(self, requested: Any) -> str:
        if self.stage == "select":
            return "select"
        return requested if requested in PHASES and requested != "select" else "task"

    def forward(self, env: Message) -> bytes:
        if env.get("op") == "reference":  # analysis only: off the ledger, counted apart; never during selection
            if self.stage == "select":
                return failure(ProxybenchError("a sampler cannot score models on the device's test data"))
            self.reference_calls += 1
            return self.device(serialize({"op": "call", "program": SCORING_PROGRAM, "payload": env["payload"]}))
        if env.get("op") != "call" or not isinstance(env.get("payload"), np.ndarray):
            return failure(ProxybenchError(f"the cloud may only call the device, not {env.get('op')!r}"))
        program, payload = str(env["program"]), env["payload"]
        phase, label = self.phase(env.get("phase")), str(env.get("label"))
        self.ledger.record(phase, "down", len(payload), f"{label}:request")
        call = Call(self.stage, phase, program, label, payload.tobytes())
        if program == SCORING_PROGRAM and self.stage == "task":  # the task's own score; in selection, a release
            self.scoring_calls += 1
        else:
            self.calls[self.stage] += 1
            self.transcript.append(call)
        reply = self.device(serialize({"op": "call", "program": program, "payload": payload}))
        answer = deserialize(reply)
        if answer.get("ok"):
            call.bytes_up, call.flops = len(answer["payload"]), int(answer["flops"])
            call.cpu_seconds = float(answer["cpu_seconds"])
            self.ledger.record(phase, "up", call.bytes_up, f"{label}:reply")
            self.meter.add(phase, call.flops, call.cpu_seconds)
        else:  # an error text crossed too, and may carry data
            call.bytes_up = len(reply)
            self.ledger.record(phase, "up", call.bytes_up, f"{label}:error")
        return reply


def _forkserver() -> multiprocessing.context.BaseContext:
    """Children fork from a clean server that imported torch once, not from the harness's memory."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["proxybench.harness"])
    return ctx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ProxybenchError(f"device address {text!r} is not HOST:PORT (e.g. 127.0.0.1:7340)")
    return host, int(port)


def device_authkey() -> bytes:
    return os.environ.get("PROXYBENCH_DEVICE_AUTHKEY", "proxybench").encode()


def connect_when_up(address: tuple[str, int], authkey: bytes, alive: Callable[[], bool], timeout: float = 120.0):
    """Connect to a device that is starting to listen; give up when it died or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect(address, authkey)
        except (ConnectionRefusedError, FileNotFoundError):
            if not alive() or time.monotonic() > deadline:
                raise ProxybenchError(f"the device process at {address[0]}:{address[1]} did not come up") from None
            time.sleep(0.05)


@contextmanager
def _children_allowed():
    """Let a daemonic process (a Dask worker, say) start a run's children.

    multiprocessing refuses because a daemon's children could outlive it; ours cannot:
    they exit when their parent goes (``orphan.exit_when_orphaned``) or their pipe closes.
    """
    config = multiprocessing.current_process()._config
    daemon = config.get("daemon")
    config["daemon"] = False
    try:
        yield
    finally:
        if daemon is not None:
            config["daemon"] = daemon


class Children:
    """The cloud and device endpoints of one run, as processes (or threads, for the reference)."""

    def __init__(self, isolation: Isolation = "process", transport: Transport = "pipe",
                 device_address: str | None = None):
        if transport not in TRANSPORTS:
            raise ProxybenchError(f"unknown device transport {transport!r}; choose {' or '.join(TRANSPORTS)}")
        if isolation not in ("process", "thread"):
            raise ProxybenchError(f"unknown isolation {isolation!r}; choose process or thread")
        ctx = _forkserver() if isolation == "process" else None
        self.workers: list[Any] = []

        def start(target, *args) -> Any:
            worker = (ctx.Process(target=target, args=args, daemon=True) if ctx is not None
                      else threading.Thread(target=target, args=args, daemon=True))
            with _children_allowed():
                worker.start()
            self.workers.append(worker)
            return worker

        self.cloud, cloud_end = multiprocessing.Pipe()
        start(cloud_main, cloud_end)
        self.device_address = device_address
        if device_address is not None:  # a device that serves on its own (proxybench device serve)
            self.device = connect_when_up(parse_address(device_address), device_authkey(), lambda: True, timeout=10.0)
        elif transport == "tcp":
            address, key = ("127.0.0.1", free_port()), secrets.token_bytes(16)
            worker = start(device_main, None, address, key)
            self.device = connect_when_up(address, key, worker.is_alive)
        else:
            self.device, device_end = multiprocessing.Pipe()
            start(device_main, device_end)

    def exchange(self, request: bytes) -> bytes:
        try:
            self.device.send_bytes(request)
            return self.device.recv_bytes()
        except (EOFError, OSError) as exc:
            raise ProxybenchError(f"the device process ended unexpectedly ({type(exc).__name__})") from exc

    def close(self) -> None:
        for conn in (self.cloud, self.device):
            try:
                if conn is self.device:
                    conn.send_bytes(serialize({"op": "stop"}))
                conn.close()
            except (OSError, ValueError):
                pass
        for worker in self.workers:
            worker.join(timeout=10)
            if isinstance(worker, multiprocessing.process.BaseProcess) and worker.is_alive():
                worker.kill()
                worker.join()


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
                 device_address: str | None = None):
        self.spec = spec
        self.cache = cache
        self.timings = timings if timings is not None else Timings()
        self.transport = transport or os.environ.get("PROXYBENCH_DEVICE_TRANSPORT", "pipe")
        self.isolation = isolation
        self.device_address = device_address
        reg = registry()
        self.sampler_cls = reg.get("sampler", spec.sampler)
        self.task_cls = reg.get("task", spec.task)
        self.dataset = reg.get("dataset", spec.dataset).build(**spec.dataset_params)

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

    def _prepare(self) -> None:
        spec, cache, timings = self.spec, self.cache, self.timings
        with timings.stage("data"):
            data = self.dataset.load(cache)
            self.scenario = make_scenario(data, spec.client_domain, spec.client_fraction, spec.seed,
                                          spec.pool_has_client_domain, data_key=self.dataset.cache_key())
        scenario = self.scenario
        with timings.stage("extractor"):
            pool = PoolData(scenario.pool_images, scenario.pool_labels, key=scenario.key)
            self.extractor = build_extractor(spec.backbone, spec.weights, pool, cache, seed=spec.seed,
                                             layer=spec.feature_layer)
        with timings.stage("pool_features"):
            self.pool_dir = self._cloud_pool()
        self.relay = Relay(self.children.exchange)
        settings = {"threads": _threads(), "environment": json.dumps(
            {k: v for k, v in os.environ.items() if k.startswith("PROXYBENCH_")})}
        phi = self.extractor.to_message()
        self.children.device.send_bytes(serialize({
            "op": "provision", **settings, **phi,
            "images": read_in_batches(ImageRows(data.images, scenario.client_train_idx)),
            "labels": data.labels[scenario.client_train_idx] if self.task_cls.device_has_labels else None,
            "test_images": read_in_batches(ImageRows(data.images, scenario.client_test_idx)),
            "test_labels": data.labels[scenario.client_test_idx],
            "rng_seed": json.dumps([spec.seed, STREAM_DEVICE]),
        }))
        ready = self.children.device.recv_bytes()
        if ready != b"ready":
            raise ProxybenchError(f"device provisioning failed: {deserialize(ready).get('error')}")
        oracle = self.sampler_cls.kind == "oracle"
        self.oracle = oracle
        self.children.cloud.send_bytes(serialize({
            "op": "setup", **settings, **phi,
            "plugin_modules": json.dumps(registry().local_modules()),
            "sampler": spec.sampler, "sampler_params": json.dumps(spec.sampler_params),
            "task": spec.task, "task_params": json.dumps(spec.task_params),
            "budget": spec.budget, "seed": spec.seed, "delta": spec.delta,
            "num_classes": len(data.class_names), "pool_dir": str(self.pool_dir),
            "pool_key": json.dumps(scenario.key), "cache_root": str(cache.root),
            "pool_labels": scenario.pool_labels if self.task_cls.pool_labels_visible else None,
            "oracle_in_domain": (scenario.pool_domains == scenario.client_domain_id) if oracle else None,
        }))

    def _cloud_pool(self) -> Path:
        """The cloud's pool: pool rows only, images and phi, as a cache folder the cloud memory-maps."""
        scenario, extractor, cache = self.scenario, self.extractor, self.cache
        data = scenario.data

        def pool_features() -> np.ndarray:
            if extractor.key["pool"] is None:  # phi does not depend on the pool: one cache entry per dataset
                train_idx = np.flatnonzero(~data.is_test)
                feats = cached_features(extractor, ImageRows(data.images, train_idx),
                                        {"data": self.dataset.cache_key()}, cache)
                position = np.full(len(data.images), -1)
                position[train_idx] = np.arange(len(train_idx))
                return feats[position[scenario.pool_idx]]
            return cached_features(extractor, scenario.pool_images, {"pool": scenario.key}, cache)

        def fill(folder: Path) -> None:
            np.save(folder / "features.npy", np.ascontiguousarray(pool_features(), dtype=np.float32))
            out = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8,
                                            shape=scenario.pool_images.shape)
            read_in_batches(scenario.pool_images, out)
            out.flush()
            del out

        return cache.folder("cloud-pools", {"scenario": scenario.key, "extractor": extractor.key}, fill)

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
        self.relay.stage = "task"
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

    def replay(self, program: str, payload: bytes, trials: int, neighbour: str, seed: int) -> np.ndarray:
        """``trials`` device replies to one recorded request, on the private set or a neighbour (off the ledger)."""
        reply = deserialize(self.children.exchange(serialize({
            "op": "replay", "program": program, "payload": as_field(payload), "trials": trials,
            "neighbour": neighbour, "seed": seed})))
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
    from .dataset import OUTSIDE_LABEL_SPACE

    return {
        "size": int(len(chosen)),
        "in_domain_share": scenario.in_domain_share(chosen),
        "outside_label_space_share": float((scenario.pool_labels[chosen] == OUTSIDE_LABEL_SPACE).mean()),
        "pool_size": int(len(scenario.pool_idx)),
        "pool_in_domain_share": scenario.in_domain_share(np.arange(len(scenario.pool_idx))),
        "client_train_size": int(len(scenario.client_train_idx)),
        "client_test_size": int(len(scenario.client_test_idx)),
    }



def local_device(context: DeviceContext, stage: str = "select") -> tuple[Device, Relay]:
    """A device runtime in this process behind a counting relay, for unit tests of plugins.

    Same bytes, same programs by reference, same meter as a run; only the process
    boundary is missing, so it proves nothing about isolation.
    """
    relay = Relay(DeviceRuntime(context).handle, stage=stage)
    return Device(lambda request: relay.forward(deserialize(request))), relay
