"""Reading rows of a (memory-mapped) dataset a batch at a time: a dataset is never decoded whole."""

from __future__ import annotations

import numpy as np

from ..contract.images import ImageRows


def read_in_batches(rows: ImageRows, out: np.ndarray | None = None, batch: int = 256) -> np.ndarray:
    """The rows of a (memory-mapped) view, read a batch at a time into ``out`` (a new array when not given)."""
    out = np.empty(rows.shape, dtype=rows.dtype) if out is None else out
    for start in range(0, len(rows), batch):
        out[start : start + batch] = rows[start : start + batch]
    return out
