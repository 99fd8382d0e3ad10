"""What crossed the link in a check, and the devices the checks hand out.

``CheckedDevice`` refuses what a real device could not install or carry before it is sent;
``Transcript`` records what crossed, and ``replay`` answers the same requests from the
record alone: a plugin given the same replies must do the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..harness.relay import Call
from ..privacy.release import Release
from ..util.errors import ProxybenchError
from ..wire.device import Device
from ..wire.link import Message, serialize
from ..wire.phases import SELECT, Phase
from ..wire.programs import DeviceProgram, program_ref
from .rules import ContractError

T = TypeVar("T")


class CheckedDevice(Device):
    """A device handle that refuses, with the rule's name, a program or a message a real device could not take."""

    def __init__(self, send: Callable[[bytes], bytes], label: str):
        super().__init__(send)
        self._label = label

    def call(self, program: DeviceProgram, message: Message, phase: Phase = SELECT, label: str = "",
             release: Release | None = None) -> Message:
        try:
            program_ref(program)
        except ProxybenchError as exc:
            raise ContractError(self._label, "program-by-reference", str(exc),
                                "define the program with `def` at the top level of your plugin's module "
                                "(not inside select(), not a lambda or a method, not in a script run as __main__) "
                                "and pass its parameters in the message") from exc
        if not isinstance(message, dict):
            raise ContractError(self._label, "program-by-reference", f"the message is a {type(message).__name__}",
                                "send a dict of field name -> numpy array or JSON scalar")
        try:
            serialize(message)
        except ProxybenchError as exc:
            raise ContractError(self._label, "program-by-reference", str(exc),
                                "send numpy arrays (not object arrays) and int, float, bool, str or None") from exc
        return super().call(program, message, phase, label, release)


class Transcript:
    """Forwards requests to the device and records each (request, reply) pair as the bytes that crossed."""

    def __init__(self, send: Callable[[bytes], bytes]):
        self._send = send
        self.exchanges: list[tuple[bytes, bytes]] = []

    def __call__(self, request: bytes) -> bytes:
        reply = self._send(request)
        self.exchanges.append((request, reply))
        return reply


def replay(exchanges: list[tuple[bytes, bytes]], label: str) -> Callable[[bytes], bytes]:
    """A device that answers from a transcript alone: the same requests in the same order get the same replies."""
    pending = list(exchanges)

    def send(request: bytes) -> bytes:
        if not pending:
            raise ContractError(label, "link-only", f"with replies alone it sent {len(exchanges) + 1} requests, "
                                f"against {len(exchanges)} when the device was there",
                                "decide what to ask from the cloud view, the rng and earlier replies only")
        expected, reply = pending.pop(0)
        if request != expected:
            raise ContractError(label, "link-only", "with replies alone it sent a request the run with the device "
                                "did not send", "build requests from the cloud view, the rng and earlier replies only")
        return reply

    return send


@dataclass
class Crossing:
    """What crossed the link in one live run: the exchanges as bytes, the counted requests, the scoring calls."""

    exchanges: list[tuple[bytes, bytes]]
    calls: list[Call]  # each counted request, with the runtime's release and event (the black-box audit replays them)
    scoring_calls: int


def replayed(work: Callable[[Device], T], crossing: Crossing, label: str) -> T:
    """``work(device)`` against a device that answers from ``crossing`` alone."""
    return work(CheckedDevice(replay(crossing.exchanges, label), label))
