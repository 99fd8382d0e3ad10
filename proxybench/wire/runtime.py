"""The device side of the wire: the private data a program sees, and the runtime that runs programs on it.

A ``DeviceRuntime`` answers request envelopes (``call`` once, ``replay`` for the audit) on
its ``DeviceContext`` and reports each program's cost (phi's FLOPs, what the program
declared on its ``CallMeter``, CPU seconds).
"""

from __future__ import annotations

import time

import numpy as np

from ..util.errors import ProxybenchError
from .link import Message, as_field, deserialize, failure, serialize
from .programs import DeviceProgram, resolve_program


class CallMeter:
    """What one program run declares about its own work (the runtime adds phi's cost itself)."""

    def __init__(self) -> None:
        self.flops = 0

    def add_flops(self, n: int) -> None:
        """Count device work of this call (2 FLOPs per multiply-add)."""
        self.flops += int(n)


class DeviceContext:
    """What a device program sees: the private data, the public extractor, the device's noise and a meter."""

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, test_images: np.ndarray,
                 test_labels: np.ndarray, extractor, rng: np.random.Generator,
                 features: np.ndarray | None = None):
        self.images = images
        self.labels = labels
        self.test_images = test_images
        self.test_labels = test_labels
        self.extractor = extractor
        self.rng = rng
        self.meter = CallMeter()
        self._features = features

    @property
    def n(self) -> int:
        return len(self.images)

    def features(self) -> np.ndarray:
        """phi of the private training images, computed on the device once (metered in the call that asks first)."""
        if self._features is None:
            self._features = self.extractor.extract(self.images, desc="device features")
            self.meter.add_flops(self.extractor.flops_per_image * len(self.images))
        return self._features


class DeviceRuntime:
    """The device side of the link: runs named programs on its context and reports what each cost.

    It answers envelopes (serialized dicts): ``call`` runs a program once; ``replay``
    runs it ``trials`` times with fresh device randomness on the private set or on a
    neighbour of it (for the black-box audit). Every answer is an envelope too.
    """

    def __init__(self, context: DeviceContext):
        self.context = context

    def handle(self, request: bytes) -> bytes:
        try:
            env = deserialize(request)
            if env["op"] == "call":
                return self._call(env)
            if env["op"] == "replay":
                return self._replay(env)
            raise ProxybenchError(f"unknown device operation {env['op']!r}")
        except Exception as exc:  # the program's failure travels back to the cloud as a message
            return failure(exc)

    def _run(self, ctx: DeviceContext, program: DeviceProgram, message: Message) -> tuple[Message, int, float]:
        ctx.meter = CallMeter()
        start = time.process_time()
        reply = program(ctx, message)
        seconds = time.process_time() - start
        if not isinstance(reply, dict):
            raise ProxybenchError(f"device program returned {type(reply).__name__}, not a message dict")
        return reply, ctx.meter.flops, seconds

    def _call(self, env: Message) -> bytes:
        program = resolve_program(env["program"])
        reply, flops, seconds = self._run(self.context, program, deserialize(env["payload"].tobytes()))
        return serialize({"ok": True, "payload": as_field(serialize(reply)), "flops": flops, "cpu_seconds": seconds})

    def neighbour(self, kind: str, seed: int) -> DeviceContext:
        """The private set itself (``none``), plus a copy of its record 0 (``add``) or without it (``remove``)."""
        base = self.context
        feats = base.features()
        rows = {"none": np.arange(base.n), "add": np.r_[np.arange(base.n), 0], "remove": np.arange(1, base.n)}
        if kind not in rows:
            raise ProxybenchError(f"unknown neighbour {kind!r}; choose none, add or remove")
        keep = rows[kind]
        return DeviceContext(base.images[keep], None if base.labels is None else base.labels[keep], base.test_images,
                             base.test_labels, base.extractor, np.random.default_rng(seed), features=feats[keep])

    def _replay(self, env: Message) -> bytes:
        """The same request ``trials`` times on one neighbour; the numeric reply fields, flattened, one row per trial."""
        program = resolve_program(env["program"])
        message = deserialize(env["payload"].tobytes())
        ctx = self.neighbour(str(env["neighbour"]), int(env["seed"]))
        rows = []
        for _ in range(int(env["trials"])):
            reply, _, _ = self._run(ctx, program, message)
            rows.append(numeric_vector(reply))
        return serialize({"ok": True, "replies": np.stack(rows)})


def numeric_vector(reply: Message) -> np.ndarray:
    """Every numeric field of a reply, flattened in field order: what an attacker on the link sees."""
    parts = []
    for name in sorted(reply):
        value = reply[name]
        if isinstance(value, (bool, np.bool_)) or isinstance(value, (int, float, np.number)):
            parts.append(np.array([float(value)]))
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            parts.append(value.astype(np.float64).ravel())
    return np.concatenate(parts) if parts else np.zeros(0)
