"""A device in this process behind a counting relay: for unit tests of plugins, not for runs."""

from __future__ import annotations

from ..wire.device import Device
from ..wire.link import deserialize
from ..wire.phases import SELECT, Phase
from ..wire.runtime import DeviceContext, DeviceRuntime
from .relay import Relay


def local_device(context: DeviceContext, stage: Phase = SELECT) -> tuple[Device, Relay]:
    """A device runtime in this process behind a counting relay, for unit tests of plugins.

    Same bytes, same programs by reference, same meter as a run; only the process
    boundary is missing, so it proves nothing about isolation.
    """
    relay = Relay(DeviceRuntime(context).handle, stage=stage)
    return Device(lambda request: relay.forward(deserialize(request))), relay
