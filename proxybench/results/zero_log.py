"""A log axis with a place for zero: costs that span decades, where some samplers cost nothing.

Client-free samplers exchange no bytes and spend no device FLOPs during selection; a log
axis has no place for 0. This axis draws the positive values on a log scale and the
zeros at a separate tick labelled "0", a fixed distance left of the log range, beyond a
dashed grey break line. Nothing is drawn between the "0" tick and the break: positions
there mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import EngFormatter, FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

#: How far left of the log range's left edge the zero tick sits (a factor: 10**0.8, about 0.8 decades).
ZERO_GAP = 10**0.8
#: Padding of the log range around the data (a factor each side; a span of 9x always holds two 1-2-5 ticks).
PAD = 3.0


@dataclass(frozen=True)
class ZeroLog:
    """Where values go on the axis: positives as they are, zero at ``zero_at`` (left of ``edge``)."""

    zero_at: float | None  # None: no zero to place
    edge: float  # left edge of the log range
    right: float

    def position(self, values: np.ndarray | float) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        return np.where(v > 0, v, self.zero_at if self.zero_at is not None else np.nan)


def zero_log_axis(ax: plt.Axes, values: np.ndarray, unit: str) -> ZeroLog:
    """Set up ``ax``'s x axis for ``values`` (NaN ignored) and return the mapping of values to positions."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    positive = v[v > 0]
    has_zero = bool((v == 0).any())
    if len(positive):
        edge, right = positive.min() / PAD, positive.max() * PAD
    else:  # only zeros: a token decade so the axis exists
        edge, right = 1.0, 10.0
    scale = ZeroLog(edge / ZERO_GAP if has_zero else None, edge, right)
    ax.set_xscale("log")
    left = scale.zero_at / 2 if scale.zero_at is not None else edge
    ax.set_xlim(left, right)
    formatter = EngFormatter(unit=unit)
    subs = (1.0, 2.0, 5.0) if np.log10(right / edge) <= 2.5 else (1.0,)  # 1-2-5 ticks crowd over many decades
    ticks = [t for t in LogLocator(base=10, subs=subs).tick_values(edge, right) if edge <= t <= right]
    if not len(positive):
        ticks = []
    if scale.zero_at is not None:
        ticks = [scale.zero_at, *ticks]
        ax.axvline(np.sqrt(scale.zero_at * edge), color="0.6", ls="--", lw=0.8)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda x, _: "0" if scale.zero_at is not None and np.isclose(x, scale.zero_at) else formatter(x)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    return scale
