"""Cores and thread caps: N concurrent runs must not oversubscribe the machine."""

from __future__ import annotations

import os


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def limit_threads(threads: int) -> None:
    """Cap torch, BLAS and OpenMP (faiss) threads, so N concurrent runs do not oversubscribe the cores."""
    import faiss  # noqa: F401  (loaded before the cap, as when proxybench imported it eagerly: its OpenMP pool is capped too)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)
