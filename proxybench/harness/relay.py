"""The relay: every device request of the cloud passes here, and is counted before it is forwarded.

The cloud never touches the ledger or the meter: the relay books each request's bytes
(down and up), its FLOPs and CPU seconds to a phase, and keeps the transcript of what
the protocol sent (the black-box audit replays it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..util.errors import ProxybenchError
from ..wire.link import Ledger, Message, deserialize, failure, serialize
from ..wire.meter import Meter
from ..wire.phases import PHASES, SELECT, STAGES, TASK, Phase
from ..wire.scoring import SCORING_PROGRAM


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
    stage: Phase = SELECT
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    scoring_calls: int = 0
    reference_calls: int = 0
    transcript: list[Call] = field(default_factory=list)

    def phase(self, requested: Any) -> Phase:
        if self.stage == SELECT:
            return SELECT
        return requested if requested in PHASES and requested != SELECT else TASK

    def forward(self, env: Message) -> bytes:
        if env.get("op") == "reference":  # analysis only: off the ledger, counted apart; never during selection
            if self.stage == SELECT:
                return failure(ProxybenchError("a sampler cannot score models on the device's test data"))
            self.reference_calls += 1
            return self.device(serialize({"op": "call", "program": SCORING_PROGRAM, "payload": env["payload"]}))
        if env.get("op") != "call" or not isinstance(env.get("payload"), np.ndarray):
            return failure(ProxybenchError(f"the cloud may only call the device, not {env.get('op')!r}"))
        program, payload = str(env["program"]), env["payload"]
        phase, label = self.phase(env.get("phase")), str(env.get("label"))
        self.ledger.record(phase, "down", len(payload), f"{label}:request")
        call = Call(self.stage, phase, program, label, payload.tobytes())
        if program == SCORING_PROGRAM and self.stage == TASK:  # the task's own score; in selection, a release
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
