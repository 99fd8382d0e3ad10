"""The harness's meter: device FLOPs and CPU seconds by phase, summed from what each call reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .phases import PHASES


@dataclass
class Meter:
    """Device FLOPs and CPU seconds by phase, kept by the harness from what each call reported.

    CPU seconds are measured by the device runtime around each program; FLOPs are phi's
    extraction (counted by the runtime) plus what the program declared for its own numpy
    work with ``ctx.meter.add_flops``.
    """

    flops: dict[str, int] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, flops: int, cpu_seconds: float) -> None:
        self.flops[phase] = self.flops.get(phase, 0) + int(flops)
        self.cpu_seconds[phase] = self.cpu_seconds.get(phase, 0.0) + float(cpu_seconds)

    def to_record(self) -> dict[str, Any]:
        phases = sorted(set(PHASES) | set(self.flops) | set(self.cpu_seconds))  # a phase without device work shows 0
        return {
            "flops": sum(self.flops.values()),
            "cpu_seconds": round(sum(self.cpu_seconds.values()), 4),
            "by_phase": {
                p: {"flops": self.flops.get(p, 0), "cpu_seconds": round(self.cpu_seconds.get(p, 0.0), 4)}
                for p in phases
            },
        }
