"""The wall time of a run's stages, as the record's ``timings`` keeps them: they add up to its ``total``.

A run from the command line starts when its process did (``process_started``): the interpreter,
the imports and the checks before any work are its ``start-up`` stage.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..util.progress import bar


class Timings(dict):
    """Seconds per stage name (rounded to ms), summed over the times a stage runs.

    Stages are contiguous: each runs from where the last one ended (the glue between them is the
    next stage's), so they add up to the wall time by construction, however loaded the machine.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.mark = time.perf_counter()  # where the last stage ended (or these timings began)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage, and show its name and elapsed time on the console while it runs."""
        try:
            with bar(name, total=None, unit="stage"):
                yield
        finally:
            self.close(name)

    def close(self, name: str) -> None:
        """Charge the time since the last stage ended to ``name``."""
        now = time.perf_counter()
        self[name] = round(self.get(name, 0.0) + now - self.mark, 3)
        self.mark = now


def process_started() -> float:
    """When this process started, on the ``time.perf_counter`` clock (Linux: from /proc; elsewhere: now)."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # starttime, in clock ticks after boot
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.perf_counter() - max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter()
