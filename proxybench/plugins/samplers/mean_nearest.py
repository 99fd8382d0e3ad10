"""``mean-nearest``: the pool points nearest the device's exact mean feature (privacy-free reference).

The simplest use of the device a reviewer would try first: the device sends the mean of
phi over its data (one d-vector, no noise, no guarantee: epsilon is None), the cloud keeps
the ``budget`` pool points nearest to it (Euclidean, in phi). With ``diversity=True`` it
keeps the ``rho * budget`` nearest as candidates and runs ECOS's greedy k-center step over
them, started from the mean (the stand-in for the covered private data).

A single mean can only point at one place in feature space: on a client whose data span
several domains it lands between them (see ``dp-mean`` and docs/mixtures.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from proxybench import (
    SELECT,
    CloudView,
    Device,
    DeviceContext,
    Message,
    ProxybenchError,
    Sampler,
    Selection,
    greedy_kcenter,
    hookimpl,
    non_private,
)

CHUNK = 1 << 16


def squared_distances(x: np.ndarray, center: np.ndarray, clip: float | None = None) -> np.ndarray:
    """||x_i - center||^2 per row, read in chunks (the pool may be a memory map); rows clipped to norm ``clip`` first."""
    out = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), CHUNK):
        rows = np.asarray(x[start : start + CHUNK], dtype=np.float64)
        if clip is not None:
            rows = clip_rows(rows, clip)
        out[start : start + CHUNK] = ((rows - center) ** 2).sum(1)
    return out


def clip_rows(rows: np.ndarray, clip: float) -> np.ndarray:
    """Each row scaled down to L2 norm ``clip`` where it is longer (the sensitivity bound of a sum)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows * np.minimum(1.0, clip / np.maximum(norms, 1e-12))


def mean_program(ctx: DeviceContext, msg: Message) -> Message:
    """On the device: the exact mean of phi(D_p)."""
    feats = ctx.features()
    ctx.meter.add_flops(feats.size)
    return {"mean": feats.mean(0).astype(np.float32)}


@dataclass
class NearestToCenter(Sampler):
    """Base of the samplers that keep the pool points nearest one device-given center."""

    rho: float = 2.0
    diversity: bool = False

    def __post_init__(self) -> None:
        if self.rho < 1:
            raise ProxybenchError(f"{self.name}: rho must be >= 1 (candidates >= budget), got {self.rho}")

    def nearest(self, x: np.ndarray, center: np.ndarray, budget: int, clip: float | None = None) -> np.ndarray:
        """The ``budget`` nearest rows, or greedy k-center from ``center`` over the ``rho * budget`` nearest."""
        dist = squared_distances(x, center, clip)
        n_cand = budget if not self.diversity else min(len(x), max(budget, int(round(self.rho * budget))))
        cand = np.sort(np.argsort(dist, kind="stable")[:n_cand])
        if len(cand) <= budget:
            return cand
        rows = np.asarray(x[cand], dtype=np.float32)
        if clip is not None:
            rows = clip_rows(rows, clip).astype(np.float32)
        return cand[greedy_kcenter(rows, budget, covered=center[None].astype(np.float32))]


@dataclass
class MeanNearest(NearestToCenter):
    name: ClassVar[str] = "mean-nearest"
    description: ClassVar[str] = "REFERENCE: pool points nearest the device's exact mean feature (no privacy)"
    kind: ClassVar[str] = "privacy-free"

    def select(self, cloud: CloudView, device: Device, budget: int, rng: np.random.Generator) -> Selection:
        reply = device.call(mean_program, {}, phase=SELECT, label="mean-nearest-mean")
        center = np.asarray(reply["mean"], dtype=np.float64)
        picked = self.nearest(cloud.features, center, budget)
        return Selection(indices=np.sort(picked), privacy=non_private(), info={"center_norm": float(np.linalg.norm(center))})


@hookimpl
def proxybench_samplers():
    return [MeanNearest]
