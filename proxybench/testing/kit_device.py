"""The conformance kit's device: another process, whose client rows exist nowhere else.

The checks run a plugin's cloud side in the test's process. Had the device's rows been there
too, a plugin could find them (through ``gc``, or by calling the tiny scenario's public
generator) and select with them while every rule held. The kit device is a child process that
draws the client's rows from a secret of its own, forks its program worker over them, then
confines itself (it writes nothing, and no process of the same user reads its memory) and
answers requests through the device runtime behind the counting relay; it also runs the
black-box replays on its own rows. The test's process gets replies, the counted calls and
the verdicts: what a cloud gets from a device, plus what the harness books.

The test's process talks to it in wire messages (arrays and scalars, never pickles), since a
plugin there could reach the connection; the child answers the harness's questions in pickles.
"""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TypeVar

import numpy as np

from ..harness.children import child_context
from ..harness.confinement import confine
from ..harness.local import NO_GRID
from ..harness.program_worker import ForkedPrograms
from ..harness.relay import Call, Relay
from ..privacy.accounting import DEFAULT_DELTA
from ..privacy.release import Units
from ..util.errors import ProxybenchError
from ..wire.context import CallMeter, DeviceContext, ScoringContext
from ..wire.link import as_field, deserialize, failure, serialize
from ..wire.phases import SELECT, TASK, Phase
from ..wire.runtime import DeviceRuntime, noise_generator
from .crossing import CheckedDevice, Crossing, Transcript
from .privacy import check_replies
from .rules import ContractError
from .scenario import private_rows, tiny_phi

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    """A broken rule as the child found it (``ContractError`` itself does not pickle)."""

    plugin: str
    rule: str
    problem: str
    fix: str


@dataclass(frozen=True)
class Crossed:
    """What the child's relay counted in one session."""

    calls: list[Call]
    scoring_calls: int


def _generator(secret: bytes) -> np.random.Generator:
    return np.random.default_rng(np.frombuffer(secret, dtype=np.uint32))


def _worker_context(images: np.ndarray, labels: np.ndarray | None, seed: int,
                    scratch: str) -> tuple[DeviceContext, dict]:
    """In the program worker: confined to its scratch, the client's rows and the public phi."""
    os.environ["HOME"] = os.environ["TMPDIR"] = scratch
    sandbox = confine(write=(scratch,))
    return DeviceContext(images, labels, tiny_phi(seed=seed)), sandbox


class _Child:
    """The kit device's state in the child: the worker, the test split, the noise secret, the current relay."""

    def __init__(self, labels: bool, stage: Phase, delta: float, seed: int):
        import torch

        torch.set_num_threads(1)  # tiny work; and no OpenMP pool in a process that forks its worker
        images, client_labels, test_images, test_labels = private_rows(_generator(os.urandom(32)))
        self.stage, self.delta = stage, delta
        self.programs = ForkedPrograms(functools.partial(_worker_context, images, client_labels if labels else None,
                                                         seed), Units.one_per_row(len(images)),
                                       client_labels if labels else None)
        self.scoring = (test_images, test_labels) if stage == TASK else None
        del images
        self.noise_secret = os.urandom(32)  # drawn after the fork: the worker never holds it
        self.sandbox = confine()
        self.relay = self._relay()

    def _relay(self) -> Relay:
        """A fresh runtime and relay; every session's noise is the same secret stream, so reruns compare."""
        scoring = ScoringContext(*self.scoring, CallMeter()) if self.scoring else None
        runtime = DeviceRuntime(self.programs, noise_generator(self.noise_secret, "kit"), self.delta,
                                scoring=scoring, grid=NO_GRID)
        return Relay(runtime.handle, stage=self.stage)

    def answer(self, env: dict) -> bytes:
        op = env.get("op")
        if op == "forward":
            return self.relay.forward(deserialize(env["request"].tobytes()))
        if op == "restart":
            self.relay = self._relay()
            return pickle.dumps(None)
        if op == "crossed":
            calls = [c for c in self.relay.transcript if c.stage == self.stage]
            return pickle.dumps(Crossed(calls, self.relay.scoring_calls))
        if op == "audit":
            calls = [c for c in self.relay.transcript if c.stage == self.stage]
            try:
                check_replies(str(env["label"]), calls, self.programs, float(env["epsilon"]), self.delta,
                              int(env["trials"]), int(env["seed"]))
            except ContractError as exc:
                return pickle.dumps(Verdict(exc.plugin, exc.rule, exc.problem, exc.fix))
            return pickle.dumps(None)
        raise ProxybenchError(f"unknown kit device operation {op!r}")


def _serve(conn: Connection, labels: bool, stage: Phase, delta: float, seed: int) -> None:
    try:
        child = _Child(labels, stage, delta, seed)
    except BaseException as exc:
        conn.send_bytes(pickle.dumps(ProxybenchError(f"the kit device failed to start: {type(exc).__name__}: {exc}")))
        return
    conn.send_bytes(pickle.dumps(child.sandbox))
    try:
        while True:
            env = deserialize(conn.recv_bytes())
            if env.get("op") == "stop":
                return
            try:
                conn.send_bytes(child.answer(env))
            except Exception as exc:  # a forwarded request gets a failed reply, as from a device; the rest an error
                error = ProxybenchError(f"{type(exc).__name__}: {exc}")
                conn.send_bytes(failure(error) if env.get("op") == "forward" else pickle.dumps(error))
    except EOFError:
        return
    finally:
        child.programs.close()


class KitDevice:
    """A device in another process over client rows drawn there from a secret (use it as a context manager).

    ``labels``: the device holds its labels (a task's ``device_has_labels``); ``stage``: what
    the relay books (``TASK`` also gives the scoring program the test split); ``seed``: the
    public phi. Each ``live`` session restarts the runtime with the same noise stream.
    """

    def __init__(self, labels: bool = False, stage: Phase = SELECT, delta: float = DEFAULT_DELTA, seed: int = 0):
        self._args = (labels, stage, delta, seed)
        self._conn: Connection | None = None
        self._process = None
        self.sandbox: dict = {}

    def __enter__(self) -> KitDevice:
        ctx = child_context()
        ours, theirs = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(theirs, *self._args), daemon=True, name="proxybench-kit-device")
        self._process.start()
        theirs.close()
        self._conn = ours
        self.sandbox = self._receive()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._conn.send_bytes(serialize({"op": "stop"}))
        except OSError:
            pass
        self._conn.close()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()

    def _receive(self):
        try:
            answer = pickle.loads(self._conn.recv_bytes())
        except EOFError:
            raise ProxybenchError("the kit device ended") from None
        if isinstance(answer, ProxybenchError):
            raise answer
        return answer

    def _ask(self, **env):
        self._conn.send_bytes(serialize(env))
        return self._receive()

    def _forward(self, request: bytes) -> bytes:
        self._conn.send_bytes(serialize({"op": "forward", "request": as_field(request)}))
        return self._conn.recv_bytes()

    def live(self, work: Callable[[CheckedDevice], T], label: str) -> tuple[T, Crossing]:
        """``work(device)`` in a fresh session against this device; what crossed, as the relay counted it."""
        self._ask(op="restart")
        transcript = Transcript(self._forward)
        result = work(CheckedDevice(transcript, label))
        crossed: Crossed = self._ask(op="crossed")
        return result, Crossing(transcript.exchanges, crossed.calls, crossed.scoring_calls)

    def audit_replies(self, label: str, epsilon: float, trials: int, seed: int) -> None:
        """``check_replies`` on the last session's calls, run where the rows are; raises the broken rule."""
        verdict = self._ask(op="audit", label=label, epsilon=epsilon, trials=trials, seed=seed)
        if verdict is not None:
            raise ContractError(verdict.plugin, verdict.rule, verdict.problem, verdict.fix)
