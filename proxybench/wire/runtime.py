"""The device runtime: it runs programs, and it alone releases, clips, adds noise and keeps the budget.

A request names a program and, for a private release, a mechanism with its public
parameters (``privacy.release``). The program computes contributions, one per row of
the device's training data; the runtime turns them into the release, with noise from a
generator seeded by a secret the cloud never holds, accounts the event under the
device's budget and answers with the release alone. A request without a mechanism gets
the program's reply as it is, if every field is a finite real number or array: that
call is *raw* (no guarantee). A program that fails answers with its exception's type
and a fixed message, and the call is raw too. Replies leave on a time grid
(``wire.timing``), so a call's duration carries at most a few bits.

Where the program runs is the runtime's ``programs``: in this process (``InlinePrograms``)
or in a confined worker process that holds the training rows only
(``harness.program_worker``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..privacy.accounting import compose, epsilon, event_to_json, non_private
from ..privacy.release import Release, Units
from ..util.errors import ProxybenchError
from .context import CallMeter, DeviceContext, ScoringContext, neighbour_rows
from .link import Message, as_field, deserialize, serialize
from .programs import resolve_program
from .timing import TimeGrid


@dataclass
class ProgramResult:
    """What one program run gave: its return value (contributions or a reply), declared FLOPs, CPU seconds, or its error."""

    value: Any
    flops: int
    cpu_seconds: float
    error_type: str | None = None


class Programs(Protocol):
    """Where device programs run: ``run`` one on the device's rows (or a neighbour's) and report what it gave."""

    units: Units
    labels: np.ndarray | None

    def run(self, program: str, message: Message, neighbour: str = "none") -> ProgramResult: ...


def run_program(context: DeviceContext, program: str, message: Message) -> ProgramResult:
    """Run a program on ``context``; its exception becomes its type name (its text may carry data)."""
    context.meter = CallMeter()
    start = time.process_time()
    try:
        value = resolve_program(program)(context, message)
    except Exception as exc:  # any failure of untrusted code is reported by type only
        return ProgramResult(None, context.meter.flops, time.process_time() - start, type(exc).__name__)
    return ProgramResult(value, context.meter.flops, time.process_time() - start)


class InlinePrograms:
    """Programs run in the runtime's own process: for unit tests and the in-process reference, not a boundary."""

    def __init__(self, context: DeviceContext):
        self.context = context
        self.units = context.units
        self.labels = context.labels

    def run(self, program: str, message: Message, neighbour: str = "none") -> ProgramResult:
        ctx = self.context
        if neighbour != "none":
            ctx = ctx.rows(*neighbour_rows(ctx.units, neighbour))
        return run_program(ctx, program, message)


def check_reply(reply: Any) -> Message:
    """A raw reply, typed: a dict of finite real numbers and real numeric arrays; anything else is refused by field name."""
    if not isinstance(reply, dict):
        raise ProxybenchError(f"a device program returned {type(reply).__name__}: return a dict of numbers and "
                              "arrays, or the contributions of the release the request names")
    for name, value in reply.items():
        if not isinstance(name, str):
            raise ProxybenchError(f"reply field names must be text, got {type(name).__name__}")
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                raise ProxybenchError(f"reply field {name!r} is an array of {value.dtype}: only real numbers may cross")
            ok = value.dtype.kind != "f" or bool(np.isfinite(value).all())
        elif isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
            ok = math.isfinite(float(value))
        else:
            raise ProxybenchError(f"reply field {name!r} has type {type(value).__name__}: only finite real numbers and "
                                  "real arrays may cross (no text, bytes, complex values or objects)")
        if not ok:
            raise ProxybenchError(f"reply field {name!r} is not finite")
    return reply


def noise_generator(secret: bytes, run_key: str) -> np.random.Generator:
    """The runtime's noise: seeded by the device's secret and the run, so no seed the cloud knows determines it."""
    digest = hashlib.sha256(secret + b"\0device-noise\0" + run_key.encode()).digest()
    return np.random.default_rng(np.frombuffer(digest, dtype=np.uint32))


class DeviceRuntime:
    """Answers request envelopes: ``call`` (a program, optionally under a release mechanism), ``score``, ``replay``.

    ``epsilon_budget`` (None: unlimited) is the device's own: a release that would take the
    composed epsilon past it is refused before the program runs, and a raw call is refused
    whenever a budget is set. ``operations``: what it answers; a real device answers ``call``
    alone, since scoring and replays are off the budget (the benchmark's analysis and audits).
    """

    OPERATIONS = ("call", "score", "replay")

    def __init__(self, programs: Programs, rng: np.random.Generator, delta: float,
                 scoring: ScoringContext | None = None, epsilon_budget: float | None = None,
                 grid: TimeGrid | None = None, operations: tuple[str, ...] = OPERATIONS):
        self.programs = programs
        self.rng = rng
        self.delta = delta
        self.scoring = scoring
        self.epsilon_budget = epsilon_budget
        self.grid = grid or TimeGrid()
        self.operations = operations
        self.events: list = []  # every release this device made, in order

    @property
    def epsilon_spent(self) -> float | None:
        """The device's odometer under a budget (None without one: nothing to check, and the run's record has it)."""
        if self.epsilon_budget is None:
            return None
        return epsilon(compose(*self.events), self.delta) if self.events else 0.0

    def handle(self, request: bytes) -> bytes:
        start = time.perf_counter()
        try:
            env = deserialize(request)
            op = env.get("op")
            if op not in self.operations:
                raise ProxybenchError(f"this device does not answer {op!r} requests (it answers: "
                                      f"{', '.join(self.operations)})")
            if op == "call":
                answer = self._call(env)
            elif op == "score":
                answer = self._score(env)
            else:
                answer = self._replay(env)
        except Exception as exc:  # the runtime's own refusals, from the request alone: not a release
            answer = serialize({"ok": False, "error": f"{type(exc).__name__}: {exc}", "raw": False})
        self.grid.wait(start)
        return answer

    def _admit(self, event) -> None:
        if self.epsilon_budget is None:
            return
        after = epsilon(compose(*self.events, event), self.delta)
        if after is None or after > self.epsilon_budget:
            spent = self.epsilon_spent
            what = "a raw reply (no guarantee)" if after is None else f"this release would take epsilon to {after:.4g}"
            so_far = "no guarantee left (a raw or failed call)" if spent is None else f"spent {spent:.4g}"
            raise ProxybenchError(f"device budget: refused, {what}; {so_far} of the epsilon budget this device "
                                  f"has for the session, {self.epsilon_budget:.4g} at delta {self.delta:g}")

    def _call(self, env: Message) -> bytes:
        message = deserialize(env["payload"].tobytes())
        release = Release.from_json(env["release"]) if env.get("release") else None
        event = release.event(message) if release is not None else non_private()
        self._admit(event)
        result = self.programs.run(str(env["program"]), message)
        info = {"flops": result.flops, "cpu_seconds": result.cpu_seconds}
        if result.error_type is not None:
            return self._raw_failure(f"{result.error_type}: the device program failed", info)
        if release is None:
            try:
                reply = check_reply(result.value)
            except ProxybenchError as exc:
                return self._raw_failure(str(exc), info)
            self.events.append(event)
            return self._answer(serialize(reply), info, None, raw=True)
        start = time.process_time()
        try:
            values = release.apply(result.value, self.programs.units, self.programs.labels, message, self.rng)
        except ProxybenchError as exc:
            return self._raw_failure(str(exc), info)
        info["cpu_seconds"] += time.process_time() - start  # the mechanism's own work (a kNN vote's distances)
        info["flops"] += release.flops(len(self.programs.units.inverse), message)
        self.events.append(event)
        return self._answer(serialize({"release": values}), info, event, raw=False)

    def _raw_failure(self, error: str, info: dict[str, Any]) -> bytes:
        """A failed call: it tells the cloud that the program failed on this data, so it counts as a raw release."""
        self.events.append(non_private())
        return serialize({"ok": False, "error": error, "raw": True, **info, "epsilon_spent": self.epsilon_spent})

    def _answer(self, payload: bytes, info: dict[str, Any], event, raw: bool) -> bytes:
        return serialize({"ok": True, "payload": as_field(payload), **info, "raw": raw,
                          "event": json.dumps(event_to_json(event)) if event is not None else "",
                          "epsilon_spent": self.epsilon_spent})

    def _score(self, env: Message) -> bytes:
        """The harness's scoring program on the test split (analysis of the run, not a release of training data)."""
        from .scoring import evaluate_program

        if self.scoring is None:
            raise ProxybenchError("this device holds no test split to score on")
        meter = CallMeter()
        start = time.process_time()
        reply = evaluate_program(ScoringContext(self.scoring.images, self.scoring.labels, meter),
                                 deserialize(env["payload"].tobytes()))
        return serialize({"ok": True, "payload": as_field(serialize(reply)), "flops": meter.flops,
                          "cpu_seconds": time.process_time() - start, "raw": False, "event": "",
                          "epsilon_spent": self.epsilon_spent})

    def _replay(self, env: Message) -> bytes:
        """The same request ``trials`` times on one neighbour, with replay noise (off the budget): numbers per trial."""
        message = deserialize(env["payload"].tobytes())
        kind = str(env["neighbour"])
        release = Release.from_json(env["release"]) if env.get("release") else None
        rng = np.random.default_rng(int(env["seed"]))
        keep, units = neighbour_rows(self.programs.units, kind)
        labels = None if self.programs.labels is None else self.programs.labels[keep]
        result = self.programs.run(str(env["program"]), message, neighbour=kind)
        if result.error_type is not None:
            raise ProxybenchError(f"replay: {result.error_type}: the device program failed")
        rows = []
        for _ in range(int(env["trials"])):
            if release is None:
                rows.append(numeric_vector(check_reply(result.value)))
            else:
                rows.append(release.apply(result.value, units, labels, message, rng).astype(np.float64).ravel())
        return serialize({"ok": True, "replies": np.stack(rows)})


def numeric_vector(reply: Message) -> np.ndarray:
    """Every numeric field of a reply, flattened in field order: what an attacker on the link sees."""
    parts = [np.asarray(reply[name], dtype=np.float64).ravel() for name in sorted(reply)]
    return np.concatenate(parts) if parts else np.zeros(0)
