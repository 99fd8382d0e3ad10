"""The typed messages between the harness and its cloud and device processes.

A pipe carries wire messages (``wire.link``: a flat dict of numpy arrays and JSON scalars).
Each message here is a frozen dataclass with ``to_message`` and ``from_message``, so the two
ends of a pipe read the same fields by construction, not by string keys spelt twice.
Structured fields (plugin parameters, sandbox records, settings, DP events) cross as one
JSON text each: the wire's scalars are flat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..contract.sampler import Selection
from ..contract.task import TaskResult
from ..privacy.accounting import event_from_json, event_to_json
from ..results.store import jsonable
from ..util.errors import ProxybenchError
from ..util.settings import Settings
from ..wire.link import Message

#: The prefix of phi's fields (``Extractor.to_message``), which ride in a child's start message.
PHI_PREFIX = "phi_"


def _text(value: Any) -> str:
    return json.dumps(value, default=jsonable)


def _array(value: Any) -> np.ndarray | None:
    """An optional array field: the wire sends None as a JSON null."""
    return value if isinstance(value, np.ndarray) else None


def _opened(message: Message, op: str) -> Message:
    if message.get("op") != op:
        raise ProxybenchError(f"expected a {op!r} message, got {message.get('op')!r}")
    return message


@dataclass(frozen=True)
class ChildStart:
    """What a child starts with: the harness's thread cap, the variables C libraries read, the settings, phi."""

    threads: int
    environment: dict[str, str]  # confinement.child_variables(): read by C libraries, before any setting is
    settings: Settings  # already ``for_children``
    phi: Message  # Extractor.to_message(): phi_* fields

    def to_message(self) -> Message:
        return {"threads": self.threads, "environment": _text(self.environment),
                "settings": _text(self.settings.to_message()), **self.phi}

    @classmethod
    def from_message(cls, m: Message) -> ChildStart:
        return cls(int(m["threads"]), json.loads(m["environment"]), Settings.from_message(json.loads(m["settings"])),
                   {k: v for k, v in m.items() if k.startswith(PHI_PREFIX)})


@dataclass(frozen=True)
class DeviceProvision:
    """The device's first message: its training rows and their privacy units; the program worker forks on it."""

    OP: ClassVar[str] = "provision"
    start: ChildStart
    images: np.ndarray
    labels: np.ndarray | None  # only where the task gives the device its labels
    groups: np.ndarray

    def to_message(self) -> Message:
        return {"op": self.OP, **self.start.to_message(), "images": self.images, "labels": self.labels,
                "groups": self.groups}

    @classmethod
    def from_message(cls, m: Message) -> DeviceProvision:
        if m.get("op") == DeviceSession.OP:
            raise ProxybenchError("this device is provisioned by a benchmark harness (device serve without --data): "
                                  "it holds no data of its own to select for")
        _opened(m, cls.OP)
        return cls(ChildStart.from_message(m), m["images"], _array(m["labels"]), m["groups"])


@dataclass(frozen=True)
class DeviceSession:
    """The first message to a device that holds its own data (``device serve --data``): phi and public numbers, no rows."""

    OP: ClassVar[str] = "session"
    start: ChildStart
    run_key: str
    delta: float
    image_size: int  # the side the pool's images were decoded to before phi: the device decodes its own alike

    def to_message(self) -> Message:
        return {"op": self.OP, **self.start.to_message(), "run_key": self.run_key, "delta": self.delta,
                "image_size": self.image_size}

    @classmethod
    def from_message(cls, m: Message) -> DeviceSession:
        if m.get("op") == DeviceProvision.OP:
            raise ProxybenchError("this device holds its own data (device serve --data): it takes no provisioned rows; "
                                  "open a session with `proxybench select --device-address`")
        _opened(m, cls.OP)
        return cls(ChildStart.from_message(m), str(m["run_key"]), float(m["delta"]), int(m["image_size"]))


@dataclass(frozen=True)
class DevicePrivate:
    """The device's second message, after its worker forked: what only the runtime holds."""

    OP: ClassVar[str] = "private"
    secret: np.ndarray | None  # uint8; None: a device serving on its own makes one
    run_key: str
    delta: float
    epsilon_budget: float | None
    grid_base: float  # 0: no time grid (the in-process reference)
    test_images: np.ndarray
    test_labels: np.ndarray

    def to_message(self) -> Message:
        return {"op": self.OP, "secret": self.secret, "run_key": self.run_key, "delta": self.delta,
                "epsilon_budget": self.epsilon_budget, "grid_base": self.grid_base,
                "test_images": self.test_images, "test_labels": self.test_labels}

    @classmethod
    def from_message(cls, m: Message) -> DevicePrivate:
        _opened(m, cls.OP)
        budget = m["epsilon_budget"]
        return cls(_array(m["secret"]), str(m["run_key"]), float(m["delta"]), None if budget is None else float(budget),
                   float(m["grid_base"]), m["test_images"], m["test_labels"])


@dataclass(frozen=True)
class DeviceReady:
    """The device's answer to provisioning: how it and its worker are confined, and its time grid."""

    OP: ClassVar[str] = "ready"
    sandbox: dict[str, Any]  # {"device": ..., "programs": ...}
    grid_bits: float | None  # None: no time grid

    def to_message(self) -> Message:
        return {"op": self.OP, "sandbox": _text(self.sandbox), "grid_bits": self.grid_bits}

    @classmethod
    def from_message(cls, m: Message) -> DeviceReady:
        if m.get("op") != cls.OP:  # the device's failure envelope
            raise ProxybenchError(f"device provisioning failed: {m.get('error')}")
        return cls(json.loads(m["sandbox"]), m["grid_bits"])


@dataclass(frozen=True)
class CloudSetup:
    """The cloud's one start message: its pool folder, the plugins by name, the run's public numbers."""

    OP: ClassVar[str] = "setup"
    start: ChildStart
    scratch: str  # the only folder it writes, with its cache
    cache_root: str
    pool_dir: str  # pool rows only: images.npy and features.npy
    pool_key: dict[str, Any]
    plugin_modules: tuple[str, ...]  # modules the harness registered by hand
    sampler: str
    sampler_params: dict[str, Any]
    task: str
    task_params: dict[str, Any]
    budget: int
    seed: int
    delta: float
    num_classes: int
    pool_labels: np.ndarray | None  # only where the task shows them to the sampler
    oracle_client_domain: np.ndarray | None  # only for an oracle sampler
    oracle_shares: np.ndarray | None

    def to_message(self) -> Message:
        return {"op": self.OP, **self.start.to_message(), "scratch": self.scratch, "cache_root": self.cache_root,
                "pool_dir": self.pool_dir, "pool_key": _text(self.pool_key),
                "plugin_modules": _text(list(self.plugin_modules)), "sampler": self.sampler,
                "sampler_params": _text(self.sampler_params), "task": self.task, "task_params": _text(self.task_params),
                "budget": self.budget, "seed": self.seed, "delta": self.delta, "num_classes": self.num_classes,
                "pool_labels": self.pool_labels, "oracle_client_domain": self.oracle_client_domain,
                "oracle_shares": self.oracle_shares}

    @classmethod
    def from_message(cls, m: Message) -> CloudSetup:
        _opened(m, cls.OP)
        return cls(ChildStart.from_message(m), str(m["scratch"]), str(m["cache_root"]), str(m["pool_dir"]),
                   json.loads(m["pool_key"]), tuple(json.loads(m["plugin_modules"])), str(m["sampler"]),
                   json.loads(m["sampler_params"]), str(m["task"]), json.loads(m["task_params"]), int(m["budget"]),
                   int(m["seed"]), float(m["delta"]), int(m["num_classes"]), _array(m["pool_labels"]),
                   _array(m["oracle_client_domain"]), _array(m["oracle_shares"]))


@dataclass(frozen=True)
class CloudStarted:
    """The cloud's answer to its setup: how it is confined (before any plugin is imported)."""

    OP: ClassVar[str] = "sandbox"
    sandbox: dict[str, Any]

    def to_message(self) -> Message:
        return {"op": self.OP, "sandbox": _text(self.sandbox)}

    @classmethod
    def from_message(cls, m: Message) -> CloudStarted:
        return cls(json.loads(_opened(m, cls.OP)["sandbox"]))


@dataclass(frozen=True)
class SelectionReport:
    """The cloud's selection, as the harness receives it."""

    OP: ClassVar[str] = "selection"
    selection: Selection

    def to_message(self) -> Message:
        s = self.selection
        return {"op": self.OP, "indices": s.indices, "weights": s.weights, "event": _text(event_to_json(s.privacy)),
                "adjacency": s.adjacency, "info": _text(s.info)}

    @classmethod
    def from_message(cls, m: Message) -> SelectionReport:
        _opened(m, cls.OP)
        return cls(Selection(indices=m["indices"].astype(np.int64), privacy=event_from_json(json.loads(m["event"])),
                             weights=_array(m["weights"]), adjacency=m["adjacency"], info=json.loads(m["info"])))


@dataclass(frozen=True)
class TaskStart:
    """The harness's answer to the selection: the pool's labels, which the task may now use."""

    OP: ClassVar[str] = "task"
    pool_labels: np.ndarray

    def to_message(self) -> Message:
        return {"op": self.OP, "pool_labels": self.pool_labels}

    @classmethod
    def from_message(cls, m: Message) -> TaskStart:
        return cls(_opened(m, cls.OP)["pool_labels"])


@dataclass(frozen=True)
class TaskReport:
    """The cloud task's result: its metrics, and the DP event and adjacency it declares."""

    OP: ClassVar[str] = "result"
    result: TaskResult

    def to_message(self) -> Message:
        r = self.result
        return {"op": self.OP, "metrics": _text(r.metrics), "event": _text(event_to_json(r.privacy)),
                "adjacency": r.adjacency}

    @classmethod
    def from_message(cls, m: Message) -> TaskReport:
        _opened(m, cls.OP)
        return cls(TaskResult(json.loads(m["metrics"]), event_from_json(json.loads(m["event"])), m["adjacency"]))
