"""Chance accuracy (1 / the number of classes), the test-set noise of an accuracy, and cells at chance.

RunRecords made so far do not store the number of classes. It is taken, in this order, from
the record's top-level ``num_classes`` key (where a runner writes it), else from the spec's
dataset: the built-in datasets whose class count is fixed (or set by a parameter) are listed
in :data:`KNOWN_CLASSES`. A dataset neither names is not checked, and the legend says so.

A cell's *interval*, for these checks, is its 95% bootstrap interval over seeds widened to
at least the 95% Wilson interval of its mean over the test images behind it (the sum of
``selection.client_test_size`` over its runs): the noise of scoring models on a finite test
set. Two or three seeds that happen to agree give a bootstrap interval of zero width; the
Wilson part keeps them from passing as separated, and gives a cell of one run an interval.
A cell is *at chance* when chance lies in that interval.
"""

from __future__ import annotations

import math
from typing import Any

#: Classes of built-in datasets: a count, or a function of the spec's dataset parameters.
KNOWN_CLASSES: dict[str, Any] = {
    "digits": 10,
    "digits-five": 10,
    "office-home": 65,
    # domainnet: its ``classes`` parameter, comma-separated names or "all" (345); 10 by default (ECOS's)
    "domainnet": lambda p: 345 if str(p.get("classes", "")).strip().lower() == "all"
    else len([c for c in str(p.get("classes", "")).split(",") if c.strip()]) or 10,
}
#: The mark a cell at chance gets in every table.
CHANCE_MARK = "⚠"
#: z of a two-sided 95% interval.
Z95 = 1.959963984540054


def num_classes(record: dict[str, Any]) -> int | None:
    """The number of classes the record's task predicts, or None where neither the record nor the dataset says."""
    n = record.get("num_classes")
    if isinstance(n, int) and n > 0:
        return n
    spec = record.get("spec") or {}
    known = KNOWN_CLASSES.get(spec.get("dataset"))
    if callable(known):
        known = known(spec.get("dataset_params") or {})
    return int(known) if known else None


def chance_accuracy(record: dict[str, Any]) -> float | None:
    """1 / the number of classes (the accuracy of a uniform guess), or None where unknown."""
    n = num_classes(record)
    return 1.0 / n if n else None


def wilson_interval(accuracy: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy measured on ``n`` test images."""
    if n <= 0 or math.isnan(accuracy):
        return math.nan, math.nan
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def cell_interval(mean: float, lo: float, hi: float, test_images: float | None = None) -> tuple[float, float]:
    """The bootstrap interval [lo, hi] widened to the Wilson interval of ``mean`` over ``test_images``.

    Either part may be unknown (NaN, None); with neither, the interval is (NaN, NaN).
    """
    parts = [] if math.isnan(lo) or math.isnan(hi) else [(lo, hi)]
    if test_images and not math.isnan(test_images) and not math.isnan(mean):
        parts.append(wilson_interval(mean, int(test_images)))
    if not parts:
        return math.nan, math.nan
    return min(p[0] for p in parts), max(p[1] for p in parts)


def at_chance(mean: float, lo: float, hi: float, chance: float | None, test_images: float | None = None) -> bool:
    """Whether chance lies in the cell's interval (:func:`cell_interval`); unknown chance is never flagged."""
    if chance is None or math.isnan(mean):
        return False
    c_lo, c_hi = cell_interval(mean, lo, hi, test_images)
    return not math.isnan(c_lo) and c_lo <= chance <= c_hi


def legend_text(chances: list[float | None]) -> str:
    """The legend's sentence on the chance mark, naming the chance level(s) of the tables."""
    known = sorted({round(c, 4) for c in chances if c is not None})
    level = ", ".join(f"{c:.3f}" for c in known) if known else "unknown"
    unknown = " Tables of a dataset whose class count is unknown are not checked." if None in chances else ""
    return f"{CHANCE_MARK}: at chance: chance accuracy (1 / number of classes = {level}) lies in that interval.{unknown}"
