"""Human-readable quantities for tables people read (9.21 MB, 42.4 GFLOP); CSV keeps the raw numbers."""

from __future__ import annotations

import math

PREFIXES = ("", "k", "M", "G", "T", "P", "E")


def human(value: float, unit: str) -> str:
    """Three significant digits with a decimal SI prefix: ``human(9208073, "B") == "9.21 MB"``."""
    if math.isnan(value):
        return "–"
    if value == 0:
        return f"0 {unit}"
    exp = min(max(int(math.floor(math.log10(abs(value)) / 3)), 0), len(PREFIXES) - 1)
    scaled = value / 1000**exp
    if abs(float(f"{scaled:.3g}")) >= 1000 and exp < len(PREFIXES) - 1:  # 999.7 kB rounds to 1.00 MB
        exp, scaled = exp + 1, scaled / 1000
    return f"{scaled:.3g} {PREFIXES[exp]}{unit}"
