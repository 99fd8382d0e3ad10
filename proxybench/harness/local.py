"""A device in this process behind a counting relay: for unit tests of plugins, not for runs."""

from __future__ import annotations

import numpy as np

from ..privacy.accounting import DEFAULT_DELTA
from ..wire.context import DeviceContext, ScoringContext
from ..wire.device import Device
from ..wire.link import deserialize
from ..wire.phases import SELECT, Phase
from ..wire.runtime import DeviceRuntime, InlinePrograms
from ..wire.timing import TimeGrid
from .relay import Relay

#: No waiting in unit tests: their timing carries nothing worth hiding.
NO_GRID = TimeGrid(base=0.0)


def local_device(context: DeviceContext, stage: Phase = SELECT, seed: int = 0, scoring: ScoringContext | None = None,
                 delta: float = DEFAULT_DELTA, epsilon_budget: float | None = None) -> tuple[Device, Relay]:
    """A device runtime in this process behind a counting relay, for unit tests of plugins.

    Same bytes, same programs by reference, same mechanisms and meter as a run; only the
    process boundary is missing (and the noise is seeded by ``seed``, which a real device's
    never is), so it proves nothing about isolation.
    """
    runtime = DeviceRuntime(InlinePrograms(context), np.random.default_rng(seed), delta, scoring=scoring,
                            epsilon_budget=epsilon_budget, grid=NO_GRID)
    relay = Relay(runtime.handle, stage=stage)
    return Device(lambda request: relay.forward(deserialize(request))), relay
