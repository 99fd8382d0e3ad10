"""What a device program sees: the device's training rows and the public extractor, never the test split or the noise.

A program computes; it does not release. Its contributions go to the device runtime
(``wire.runtime``), which owns the privacy units, the noise and the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..privacy.release import Units
from ..util.errors import ProxybenchError
from .link import Message


class CallMeter:
    """What one program run declares about its own work (the runtime adds phi's cost and the mechanism's itself)."""

    def __init__(self) -> None:
        self.flops = 0

    def add_flops(self, n: int) -> None:
        """Count device work of this call (2 FLOPs per multiply-add)."""
        self.flops += int(n)


class DeviceContext:
    """The device's training data as a program sees it: images, labels where the task gives them, phi and a meter.

    Rows of one original record (an image and its augmentations) are one privacy unit;
    ``units`` says which, so a program may size its contributions, but clipping to the unit
    is the runtime's.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, extractor, groups: np.ndarray | None = None,
                 features: np.ndarray | None = None):
        self.images = images
        self.labels = labels
        self.extractor = extractor
        self.units = Units.from_groups(groups) if groups is not None else Units.one_per_row(len(images))
        self.meter = CallMeter()
        self._features = features

    @property
    def n(self) -> int:
        return len(self.images)

    def features(self) -> np.ndarray:
        """phi of the private training images, computed on the device once (metered in the call that asks first)."""
        if self._features is None:
            self._features = self.extractor.extract(self.images, desc="device features")
            self.meter.add_flops(self.extractor.flops_per_image * len(self.images))
        return self._features

    def rows(self, keep: np.ndarray, units: Units) -> DeviceContext:
        """The same device restricted (or extended) to rows ``keep``, as the audit's neighbours are built."""
        feats = self.features()
        ctx = DeviceContext(self.images[keep], None if self.labels is None else self.labels[keep], self.extractor,
                            features=feats[keep])
        ctx.units = units
        return ctx


@dataclass(frozen=True)
class ScoringContext:
    """The device's test split: reached only by the harness's own scoring program, never by a selection or task program."""

    images: np.ndarray
    labels: np.ndarray
    meter: CallMeter


DeviceProgram = Callable[[DeviceContext, Message], object]

#: Neighbouring datasets of the black-box audit, by unit: unit 0 added once more, or removed.
NEIGHBOURS = ("none", "add", "remove")


def neighbour_rows(units: Units, kind: str) -> tuple[np.ndarray, Units]:
    """Rows of the neighbour ``kind`` of a device and its units: the whole unit 0 copied (``add``) or dropped (``remove``)."""
    if kind not in NEIGHBOURS:
        raise ProxybenchError(f"unknown neighbour {kind!r}; choose {', '.join(NEIGHBOURS)}")
    n = len(units.inverse)
    first = np.flatnonzero(units.inverse == 0)
    if kind == "none":
        return np.arange(n), units
    if kind == "add":
        return np.r_[np.arange(n), first], Units(np.r_[units.inverse, np.full(len(first), units.count)], units.count + 1)
    keep = np.flatnonzero(units.inverse != 0)
    return keep, Units(units.inverse[keep] - 1, units.count - 1)
