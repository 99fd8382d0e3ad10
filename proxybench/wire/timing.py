"""When a device reply may leave: on a fixed geometric time grid, so a call's duration says little about the data.

A program could encode its data in how long it runs. The runtime holds each reply until
the next point of the grid ``base * 2 ** (j / steps)``: the cloud learns only which grid
point a call ended on. Over calls of up to ``horizon`` seconds that is at most
``log2(points)`` bits a call (``bits``); the cost is a wait of at most ``2 ** (1 / steps) - 1``
of the call's own time (19% at 4 steps an octave), and ``base`` for the shortest calls.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class TimeGrid:
    base: float = 0.05  # seconds: the first grid point
    steps: int = 4  # grid points per doubling of the time
    horizon: float = 3600.0  # seconds: the longest call the bound is stated for

    def next_point(self, elapsed: float) -> float:
        if self.base <= 0:  # no grid (in-process unit tests)
            return elapsed
        if elapsed <= self.base:
            return self.base
        j = math.ceil(self.steps * math.log2(elapsed / self.base) - 1e-12)
        return self.base * 2.0 ** (j / self.steps)

    def wait(self, start: float) -> None:
        """Sleep until the grid point after ``start + elapsed`` (``start`` from ``time.perf_counter()``)."""
        elapsed = time.perf_counter() - start
        time.sleep(max(0.0, self.next_point(elapsed) - elapsed))

    @property
    def bits(self) -> float | None:
        """Most bits one call's timing can carry: log2 of the grid points up to ``horizon`` (None: no grid, no bound)."""
        if self.base <= 0:
            return None
        return math.log2(self.steps * math.log2(self.horizon / self.base) + 1)
