"""Intervals and paired comparisons for tables that answer "is it better?", not just "is it higher?".

Every interval is a seeded percentile bootstrap, so a table regenerated from the same
records is the same to the byte. A mean over seeds resamples seeds; a mean over seeds
and client domains resamples the seeds within each domain (the benchmark's domains are
fixed, its seeds are a sample), so the interval is seed noise, not domain spread. A paired comparison takes the
difference of two samplers in each cell (same seed, same domain: same client split)
and bootstraps the mean difference; an interval that contains 0 is a statistical tie.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Resamples and seed of every bootstrap in the tables.
RESAMPLES = 2000
SEED = 0
LEVEL = 0.95
METHOD = (f"95% percentile bootstrap interval ({RESAMPLES} resamples, seed {SEED}) over seeds; for the average and "
          "the paired differences, seeds are resampled within each client domain (the domains are fixed)")


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap interval (lo, hi are NaN with fewer than two values: no interval exists)."""

    mean: float
    lo: float
    hi: float
    n: int

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def overlaps(self, other: Interval) -> bool:
        return self.lo <= other.hi and other.lo <= self.hi

    @property
    def defined(self) -> bool:
        return not (math.isnan(self.lo) or math.isnan(self.hi))


def bootstrap_mean(values: Any, strata: Any = None, resamples: int = RESAMPLES, seed: int = SEED,
                   level: float = LEVEL) -> Interval:
    """Mean of ``values`` and its percentile bootstrap interval; NaNs are dropped first.

    With ``strata`` (one label per value, e.g. the client domain of each seed x domain
    cell), values are resampled within their stratum, so the interval reflects seed noise
    and not the spread between the fixed domains. Each call starts its own generator from
    ``seed``: a cell's interval does not depend on which cells were computed before it.
    The interval is NaN when no stratum has two values.
    """
    x = np.asarray(values, dtype=float)
    labels = np.zeros(len(x), dtype=int) if strata is None else np.unique(np.asarray(strata, dtype=str), return_inverse=True)[1]
    keep = ~np.isnan(x)
    x, labels = x[keep], labels[keep]
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    groups = [x[labels == g] for g in np.unique(labels)]
    if max(len(g) for g in groups) < 2:
        return Interval(mean, math.nan, math.nan, n)
    rng = np.random.default_rng(seed)
    sums = np.zeros(resamples)
    for g in groups:
        sums += g[rng.integers(0, len(g), size=(resamples, len(g)))].sum(axis=1)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(sums / n, [tail, 100 - tail])
    return Interval(mean, float(lo), float(hi), n)


@dataclass(frozen=True)
class Paired:
    """A paired difference (row minus reference) over the cells both have; a tie when its interval contains 0."""

    diff: Interval

    @property
    def tie(self) -> bool:
        return self.diff.defined and self.diff.contains(0.0)

    @property
    def significant(self) -> bool:
        return self.diff.defined and not self.diff.contains(0.0)


def paired(row: Mapping[Any, float], reference: Mapping[Any, float], stratum: int | None = 0) -> Paired:
    """Differences row - reference in every cell present in both, bootstrapped over cells.

    Cells are tuples such as (domain, seed); ``stratum`` is the position of the label
    resampled within (None: no strata).
    """
    common = sorted(set(row) & set(reference), key=str)
    strata = None if stratum is None else [c[stratum] for c in common]
    return Paired(bootstrap_mean([row[c] - reference[c] for c in common], strata))
