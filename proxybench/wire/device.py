"""The cloud's handle on the device: a named program and a message go down, the reply comes up.

The device runs in its own OS process (``proxybench.harness`` starts it). After it is
provisioned with the client's data, the only thing that reaches it is a request naming a
device program and the serialized message for it; the only thing that leaves it is the
serialized reply. So whatever a method learns from the device is a reply field that
crossed the link, and was counted by the harness, which relays every byte.
"""

from __future__ import annotations

from collections.abc import Callable

from ..privacy.release import Release
from ..util.errors import ProxybenchError
from .link import Message, as_field, deserialize, serialize
from .phases import SELECT, Phase
from .programs import DeviceProgram, program_ref


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

    def call(self, program: DeviceProgram, message: Message, phase: Phase = SELECT, label: str = "",
             release: Release | None = None) -> Message:
        """Send ``message`` down, run ``program`` on the device, return its reply as the cloud receives it.

        With ``release`` (a mechanism of ``proxybench.privacy.release``), the program returns
        contributions and the reply is ``{"release": the runtime's noisy release}``; without
        it the program's own reply crosses raw, and the run has no privacy guarantee.
        """
        envelope = {"op": "call", "program": program_ref(program), "phase": phase, "label": label or program.__name__,
                    "payload": as_field(serialize(message)), "release": release.to_json() if release else ""}
        return deserialize(self.request(envelope)["payload"].tobytes())
