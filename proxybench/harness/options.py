"""How the harness runs one run: where its device is and how it is reached, and what its children are told.

None of it changes a result (the same spec gives the same record over a pipe, over TCP or
from a device serving on its own), so none of it is part of the spec or its hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..util.errors import ProxybenchError
from ..util.settings import Settings, current

Transport = Literal["pipe", "tcp"]
#: ``process``: cloud and device in their own processes (every run). ``thread``: both as threads of
#: the harness, over the same pipes and bytes: an in-process reference for measuring the boundary.
Isolation = Literal["process", "thread"]
TRANSPORTS = ("pipe", "tcp")
ISOLATIONS = ("process", "thread")


@dataclass(frozen=True)
class HarnessOptions:
    """The harness's side of a run: transport, isolation, a serving device's address, the device's budget, the settings.

    ``settings`` are the run's (the torch device, progress bars, the dask scheduler, the
    served device's key): the harness runs under them and its children get them in their
    start message. Checked when made, before any work.
    """

    transport: Transport = "pipe"
    isolation: Isolation = "process"
    device_address: str | None = None  # HOST:PORT of a device that serves on its own (proxybench device serve)
    device_epsilon: float | None = None  # the device's own privacy budget; None: none
    settings: Settings = field(default_factory=Settings)

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ProxybenchError(f"unknown device transport {self.transport!r}; choose {' or '.join(TRANSPORTS)}")
        if self.isolation not in ISOLATIONS:
            raise ProxybenchError(f"unknown isolation {self.isolation!r}; choose {' or '.join(ISOLATIONS)}")

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **given) -> HarnessOptions:
        """Options under ``settings`` (those in use when not given): the transport defaults to theirs."""
        settings = current() if settings is None else settings
        return cls(**{"transport": settings.device_transport, **given}, settings=settings)
