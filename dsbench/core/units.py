"""Human-readable numbers: SI prefixes for rates and sizes, adaptive units for durations."""

from __future__ import annotations

import math

_SI = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """``si(3.1e12, "FLOP/s") == "3.1 TFLOP/s"``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}".rstrip()


def duration(seconds: float | None) -> str:
    """``duration(0.00123) == "1.23 ms"``; hours and days for long simulated times."""
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    s = abs(seconds)
    for limit, scale, unit in ((1e-6, 1e9, "ns"), (1e-3, 1e6, "us"), (1.0, 1e3, "ms")):
        if s < limit:
            return f"{seconds * scale:.3g} {unit}"
    if s < 3600:
        return f"{seconds:.3g} s"
    if s < 86400 * 2:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} d"
