"""Cloud <-> device messages: a compact binary serialization and the byte ledger.

A message is a flat dict of numpy arrays and JSON scalars. Its wire form is a 4-byte
header length, a JSON header (names, dtypes, shapes, scalars) and the raw array
buffers, so the bytes counted are the payload plus a small, visible header.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..util.errors import ProxybenchError
from .phases import PHASES, Phase

Direction = Literal["up", "down"]

Message = dict[str, Any]


def serialize(message: Message) -> bytes:
    header: dict[str, Any] = {"arrays": [], "scalars": {}}
    buffers = []
    for name, value in message.items():
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise ProxybenchError(f"message field {name!r}: object arrays cannot be sent")
            arr = np.ascontiguousarray(value)
            header["arrays"].append([name, arr.dtype.str, list(arr.shape)])
            buffers.append(arr.tobytes())
        elif isinstance(value, (np.integer, np.floating, np.bool_)):
            header["scalars"][name] = value.item()
        elif value is None or isinstance(value, (bool, int, float, str)):
            header["scalars"][name] = value
        else:
            raise ProxybenchError(
                f"message field {name!r} has type {type(value).__name__}; send numpy arrays or scalars"
            )
    head = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<I", len(head)) + head + b"".join(buffers)


def deserialize(data: bytes) -> Message:
    (head_len,) = struct.unpack_from("<I", data, 0)
    header = json.loads(data[4 : 4 + head_len])
    out: Message = dict(header["scalars"])
    offset = 4 + head_len
    for name, dtype, shape in header["arrays"]:
        dt = np.dtype(dtype)
        count = int(np.prod(shape)) if shape else 1
        arr = np.frombuffer(data, dtype=dt, count=count, offset=offset).reshape(shape)
        out[name] = arr.copy()
        offset += count * dt.itemsize
    if offset != len(data):
        raise ProxybenchError(f"corrupt message: {len(data) - offset} trailing bytes")
    return out


@dataclass
class Transfer:
    phase: Phase
    direction: Direction
    nbytes: int
    label: str


@dataclass
class Ledger:
    """Every byte that crossed the link, by phase and direction."""

    transfers: list[Transfer] = field(default_factory=list)

    def record(self, phase: Phase, direction: Direction, nbytes: int, label: str) -> None:
        if phase not in PHASES:
            raise ProxybenchError(f"unknown link phase {phase!r}; phases are {', '.join(PHASES)}")
        self.transfers.append(Transfer(phase, direction, int(nbytes), label))

    def total(self, direction: Direction, phase: Phase | None = None) -> int:
        return sum(
            t.nbytes for t in self.transfers if t.direction == direction and (phase is None or t.phase == phase)
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "bytes_up": self.total("up"),
            "bytes_down": self.total("down"),
            "by_phase": {p: {"up": self.total("up", p), "down": self.total("down", p)} for p in PHASES},
            "transfers": [vars(t) for t in self.transfers],
        }


def as_field(data: bytes) -> np.ndarray:
    """Bytes as a message field (a uint8 array), for envelopes that carry a serialized message."""
    return np.frombuffer(data, dtype=np.uint8)


def failure(exc: BaseException) -> bytes:
    """The reply envelope of a failed request: the error as text (it crosses the link like any reply)."""
    return serialize({"ok": False, "error": f"{type(exc).__name__}: {exc}"})

