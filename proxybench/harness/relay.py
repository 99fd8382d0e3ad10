"""The relay: every device request of the cloud passes here, and is counted before it is forwarded.

The cloud never touches the ledger or the meter: the relay books each request's bytes
(down and up), its FLOPs and CPU seconds to a phase, the device runtime's privacy event
of each call (a mechanism's, or raw), and keeps the transcript of what the protocol sent
(the black-box audit replays it). The cloud gets back the reply's payload or a failed
call's error and nothing else: not the device's compute, its timing or its budget.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from ..util.errors import ProxybenchError
from ..wire.link import Ledger, Message, deserialize, failure, serialize
from ..wire.meter import Meter
from ..wire.phases import PHASES, SELECT, STAGES, TASK, Phase
from ..wire.scoring import SCORING_PROGRAM
from .remote_error import ChildFailure


@dataclass
class Call:
    """One device request the harness relayed: what it cost, and its message (kept for the black-box audit)."""

    stage: str
    phase: str
    program: str
    label: str
    payload: bytes
    release: str = ""  # the mechanism the request named (JSON), "" for none
    bytes_up: int = 0
    flops: int = 0
    cpu_seconds: float = 0.0
    raw: bool = True  # no mechanism produced the reply (or the call failed): no guarantee
    event: dict | None = None  # the runtime's DpEvent of this call (JSON), None when raw

    def to_record(self) -> dict[str, Any]:
        return {"stage": self.stage, "phase": self.phase, "program": self.program, "label": self.label,
                "bytes_down": len(self.payload) + len(self.release), "bytes_up": self.bytes_up, "flops": self.flops,
                "cpu_seconds": round(self.cpu_seconds, 4), "raw": self.raw,
                "release": json.loads(self.release) if self.release else None}


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
    stage: Phase = SELECT
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    scoring_calls: int = 0
    reference_calls: int = 0
    transcript: list[Call] = field(default_factory=list)
    epsilon_spent: float | None = 0.0  # the device's odometer after the last call, as the device reported it

    def phase(self, requested: Any) -> Phase:
        if self.stage == SELECT:
            return SELECT
        return requested if requested in PHASES and requested != SELECT else TASK

    def forward(self, env: Message) -> bytes:
        op, program = env.get("op"), str(env.get("program", ""))
        if op == "reference" or (op == "call" and program == SCORING_PROGRAM):
            return self._score(env, reference=op == "reference")
        if op != "call" or not isinstance(env.get("payload"), np.ndarray):
            return failure(ProxybenchError(f"the cloud may only call the device, not {op!r}"))
        payload, release = env["payload"], str(env.get("release") or "")
        phase, label = self.phase(env.get("phase")), str(env.get("label"))
        self.ledger.record(phase, "down", len(payload) + len(release), f"{label}:request")
        call = Call(self.stage, phase, program, label, payload.tobytes(), release)
        self.calls[self.stage] += 1
        self.transcript.append(call)
        answer = deserialize(self.device(serialize({"op": "call", "program": program, "payload": payload,
                                                    "release": release})))
        call.flops, call.cpu_seconds = int(answer.get("flops", 0)), float(answer.get("cpu_seconds", 0.0))
        call.raw = bool(answer.get("raw", True))  # a refusal by the runtime says raw False: no program ran
        call.event = json.loads(answer["event"]) if answer.get("event") else None
        self.epsilon_spent = answer.get("epsilon_spent", self.epsilon_spent)
        self.meter.add(phase, call.flops, call.cpu_seconds)
        if answer.get("ok"):
            reply = serialize({"ok": True, "payload": answer["payload"]})
            call.bytes_up = len(answer["payload"])
            self.ledger.record(phase, "up", call.bytes_up, f"{label}:reply")
        else:  # the error crossed too
            reply = serialize({"ok": False, "error": str(answer.get("error"))})
            call.bytes_up = len(reply)
            self.ledger.record(phase, "up", call.bytes_up, f"{label}:error")
        return reply

    def _score(self, env: Message, reference: bool) -> bytes:
        """The harness's scoring on the test split: the task's own score (phase ``model``), or analysis off the ledger."""
        if self.stage == SELECT:
            return failure(ProxybenchError("a sampler cannot score models on the device's test data"))
        payload = env["payload"]
        if reference:
            self.reference_calls += 1
        else:
            self.scoring_calls += 1
            phase = self.phase(env.get("phase"))
            self.ledger.record(phase, "down", len(payload), f"{env.get('label')}:request")
        answer = deserialize(self.device(serialize({"op": "score", "payload": payload})))
        if not answer.get("ok"):
            return serialize({"ok": False, "error": str(answer.get("error"))})
        if not reference:
            self.ledger.record(phase, "up", len(answer["payload"]), f"{env.get('label')}:reply")
            self.meter.add(phase, int(answer["flops"]), float(answer["cpu_seconds"]))
        return serialize({"ok": True, "payload": answer["payload"]})


def relay_until(cloud: Connection, relay: Relay, until: str) -> Message:
    """Relay the cloud's device requests until it sends ``until``; its failures become exceptions here."""
    while True:
        try:
            env = deserialize(cloud.recv_bytes())
        except (EOFError, OSError) as exc:
            raise ProxybenchError("the cloud process ended without an answer (crashed or killed)") from exc
        op = env.get("op")
        if op in ("call", "reference"):
            cloud.send_bytes(relay.forward(env))
        elif op == ChildFailure.OP:
            raise ChildFailure.from_message(env).exception()
        elif op == until:
            return env
        else:
            raise ProxybenchError(f"unexpected {op!r} from the cloud process (waiting for {until!r})")
