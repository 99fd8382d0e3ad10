"""Shared helpers of the benchmark suite: the size switch, side-by-side timing, peak memory.

Tiny by default (the default test command runs each benchmark once, as a plain test);
``PROXYBENCH_BENCH=full`` selects the sizes the issue's targets are stated for.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

FULL = os.environ.get("PROXYBENCH_BENCH", "tiny") == "full"


def sizes(tiny: Any, full: Any) -> Any:
    """The tiny form by default, the full form under ``PROXYBENCH_BENCH=full``."""
    return full if FULL else tiny


def best_seconds(fn: Callable[[], Any], rounds: int) -> float:
    """Minimum wall time of ``rounds`` calls: the least noisy figure on a shared machine."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def traced_peak(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` and the peak bytes Python and numpy allocated during it (tracemalloc).

    Memory that C++ libraries allocate themselves (faiss's k-means buffers) is not seen;
    memory-mapped files are not allocations either.
    """
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
