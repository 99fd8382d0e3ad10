"""The device: its private data, the programs it runs, and the handle the cloud calls it through.

The device runs in its own OS process (``proxybench.harness`` starts it). It is
provisioned once with the client's train and test data and the public extractor phi;
after that, the only thing that reaches it is a request naming a *device program*
by reference (``module:qualname``, as a real device would install the program) and
the serialized message for it. The only thing that leaves it is the serialized reply.
So whatever a method learns from the device is a reply field that crossed the link,
and was counted by the harness, which relays every byte.

A device program is a module-level function ``(DeviceContext, Message) -> Message``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from .errors import ProxybenchError
from .link import PHASES, Message, deserialize, serialize

DeviceProgram = Callable[["DeviceContext", Message], Message]


def forward_flops(forward: Callable[[torch.Tensor], torch.Tensor], image_size: int) -> int:
    """FLOPs of one image through ``forward`` (a model in eval mode), counted by torch's FlopCounterMode.

    Counted once on a single image and scaled by the number of images: running whole
    extractions under the counter is several times slower, and a CNN's cost is linear in
    the batch. FlopCounterMode counts 2 FLOPs per multiply-add.
    """
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        forward(torch.zeros(1, 3, image_size, image_size))
    return int(counter.get_total_flops())


@dataclass
class Meter:
    """Device FLOPs and CPU seconds by phase, kept by the harness from what each call reported.

    CPU seconds are measured by the device runtime around each program; FLOPs are phi's
    extraction (counted by the runtime) plus what the program declared for its own numpy
    work with ``ctx.meter.add_flops``.
    """

    flops: dict[str, int] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, flops: int, cpu_seconds: float) -> None:
        self.flops[phase] = self.flops.get(phase, 0) + int(flops)
        self.cpu_seconds[phase] = self.cpu_seconds.get(phase, 0.0) + float(cpu_seconds)

    def to_record(self) -> dict[str, Any]:
        phases = sorted(set(PHASES) | set(self.flops) | set(self.cpu_seconds))  # a phase without device work shows 0
        return {
            "flops": sum(self.flops.values()),
            "cpu_seconds": round(sum(self.cpu_seconds.values()), 4),
            "by_phase": {
                p: {"flops": self.flops.get(p, 0), "cpu_seconds": round(self.cpu_seconds.get(p, 0.0), 4)}
                for p in phases
            },
        }


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


def program_ref(program: DeviceProgram) -> str:
    """``module:qualname`` of a device program; lambdas, closures and bound methods cannot be installed on a device."""
    module, qualname = getattr(program, "__module__", None), getattr(program, "__qualname__", None)
    if not module or not qualname or "<" in qualname or "." in qualname:
        raise ProxybenchError(
            f"device program {program!r} is not a module-level function: the device installs programs by "
            "reference (module:name), so lambdas, closures and methods cannot be sent; define it at module level"
        )
    ref = f"{module}:{qualname}"
    if module == "__main__":
        raise ProxybenchError(f"device program {ref} lives in __main__, which the device process cannot import; "
                              "move it into an importable module")
    try:
        found = resolve_program(ref)
    except ProxybenchError as exc:
        raise ProxybenchError(f"device program {ref} cannot be installed: {exc}") from exc
    if found is not program:
        raise ProxybenchError(f"device program {ref} does not resolve to the function given (redefined at run time?)")
    return ref


def resolve_program(ref: str) -> DeviceProgram:
    module_name, _, name = ref.partition(":")
    try:
        program = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ProxybenchError(f"no device program {ref!r}: {exc}") from exc
    if not callable(program):
        raise ProxybenchError(f"device program {ref!r} is not callable")
    return program


def as_field(data: bytes) -> np.ndarray:
    """Bytes as a message field (a uint8 array), for envelopes that carry a serialized message."""
    return np.frombuffer(data, dtype=np.uint8)


def failure(exc: BaseException) -> bytes:
    return serialize({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


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


class Device:
    """The cloud's handle on the device: ``call`` a named program with a message, get the reply.

    ``send`` takes a serialized request envelope and returns the reply envelope; in a
    run it is the pipe to the harness, which counts and relays. The handle itself holds
    no device data and no ledger.
    """

    def __init__(self, send: Callable[[bytes], bytes]):
        self._send = send

    def request(self, envelope: Message) -> Message:
        reply = deserialize(self._send(serialize(envelope)))
        if not reply.get("ok"):
            raise ProxybenchError(f"device: {reply.get('error')}")
        return reply

    def call(self, program: DeviceProgram, message: Message, phase: str = "select", label: str = "") -> Message:
        """Send ``message`` down, run ``program`` on the device, return its reply as the cloud receives it."""
        envelope = {"op": "call", "program": program_ref(program), "phase": phase, "label": label or program.__name__,
                    "payload": as_field(serialize(message))}
        return deserialize(self.request(envelope)["payload"].tobytes())
