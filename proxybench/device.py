"""The device sandbox: private data, the programs that run on it, and the compute meter.

Samplers and tasks never hold a Device's data. They send a *device program* (a
function of ``(DeviceContext, message) -> reply``) with a message through
``Device.call``; both directions cross the Link and are counted, and the program runs
inside the Meter. So any information a method takes from the device is paid for in
bytes and shows up in the code as a reply field.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from .dataset import ImageRows
from .link import Link, Message

DeviceProgram = Callable[["DeviceContext", Message], Message]


def forward_flops(forward: Callable[[torch.Tensor], torch.Tensor], image_size: int) -> int:
    """FLOPs of one image through ``forward`` (a model in eval mode), counted by torch's FlopCounterMode.

    Counted once on a single image and scaled by the number of images: running whole
    extractions under the counter is several times slower, and a CNN's cost is linear in
    the batch. FlopCounterMode counts 2 FLOPs per multiply-add.
    """
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        forward(torch.zeros(1, 3, image_size, image_size))
    return int(counter.get_total_flops())


@dataclass
class Meter:
    """Device FLOPs (declared by device code: torch forwards via ``forward_flops``, numpy work analytically) and CPU seconds."""

    flops: dict[str, int] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    _phase: str = "select"

    def add_flops(self, n: int) -> None:
        """Count device work in the current phase (2 FLOPs per multiply-add)."""
        self.flops[self._phase] = self.flops.get(self._phase, 0) + int(n)

    def run(self, phase: str, fn: Callable[[], Any]) -> Any:
        self._phase = phase
        start = time.process_time()
        try:
            return fn()
        finally:
            self.cpu_seconds[phase] = self.cpu_seconds.get(phase, 0.0) + time.process_time() - start

    def to_record(self) -> dict[str, Any]:
        phases = sorted(set(self.flops) | set(self.cpu_seconds))
        return {
            "flops": sum(self.flops.values()),
            "cpu_seconds": round(sum(self.cpu_seconds.values()), 4),
            "by_phase": {
                p: {"flops": self.flops.get(p, 0), "cpu_seconds": round(self.cpu_seconds.get(p, 0.0), 4)}
                for p in phases
            },
        }


class DeviceContext:
    """What a device program sees: the private data, the public extractor, noise and the meter."""

    def __init__(self, images: ImageRows | np.ndarray, labels: np.ndarray | None, test_images: np.ndarray,
                 test_labels: np.ndarray, extractor, rng: np.random.Generator, meter: Meter):
        self.images = images
        self.labels = labels
        self.test_images = test_images
        self.test_labels = test_labels
        self.extractor = extractor
        self.rng = rng
        self.meter = meter
        self._features: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.images)

    def features(self) -> np.ndarray:
        """phi of the private training images, computed on the device once per run (metered)."""
        if self._features is None:
            self._features = self.extractor.extract(self.images, desc="device features")
            self.meter.add_flops(self.extractor.flops_per_image * len(self.images))
        return self._features


class Device:
    """A device holding private data, reachable only through ``call``."""

    def __init__(self, context: DeviceContext, link: Link):
        self._ctx = context
        self.link = link

    @property
    def meter(self) -> Meter:
        return self._ctx.meter

    def call(self, program: DeviceProgram, message: Message, phase: str, label: str) -> Message:
        """Send ``message`` down, run ``program`` on the device, return its reply as the cloud receives it."""
        arrived = self.link.carry(message, phase, "down", f"{label}:request")
        reply = self._ctx.meter.run(phase, lambda: program(self._ctx, arrived))
        return self.link.carry(reply, phase, "up", f"{label}:reply")
