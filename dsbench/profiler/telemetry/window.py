"""Rolling windows: a ring buffer of exactly ``window_s`` seconds per device and metric.

Windows are consecutive and do not overlap: window k covers ``[t0 + k·W, t0 + (k+1)·W)``
where ``t0`` is the first sample's time. When a sample arrives past the current window's
end, the finished window is emitted; the buffer holds exactly the samples inside the
window's edges, so the statistics are those of the window and nothing else. Statistics are
numpy's (``np.mean``, ``np.min``, ``np.max``, ``np.percentile`` with linear interpolation)
over the non-null values, so a test can recompute them exactly.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dsbench.profiler.telemetry.metrics import Sample, unit_of

STATS = ("mean", "min", "max", "p5", "p50", "p95")


@dataclass(frozen=True)
class WindowStats:
    """One metric of one device over one window.

    start/end: the window's edges (s since epoch); a sample at t is in it iff start <= t < end.
    n: non-null samples; n_null: samples whose value was null. Statistics are None when n = 0.
    partial: the run stopped before the window's end (the flushed last window).
    """

    device: str
    metric: str
    unit: str
    start: float
    end: float
    n: int
    n_null: int
    stats: dict[str, float | None]
    partial: bool = False
    null_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "device": self.device,
            "metric": self.metric,
            "unit": self.unit,
            "window_start": self.start,
            "window_end": self.end,
            "n_samples": self.n,
            "n_null": self.n_null,
            **self.stats,
            "partial": self.partial,
        }
        if self.null_reason:
            out["null_reason"] = self.null_reason
        return out


def window_stats(values: Iterable[float]) -> dict[str, float | None]:
    """mean, min, max, p5, p50, p95 of ``values`` (numpy, linear percentiles)."""
    import numpy as np

    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        return dict.fromkeys(STATS)
    p5, p50, p95 = np.percentile(arr, [5, 50, 95])
    return {
        "mean": float(np.mean(arr)),
        "min": float(np.min(arr)),
        "max": float(np.max(arr)),
        "p5": float(p5),
        "p50": float(p50),
        "p95": float(p95),
    }


@dataclass
class Windower:
    """Feed samples in time order; get finished windows back."""

    window_s: float
    t0: float | None = None
    index: int = 0
    _buffers: dict[tuple[str, str], deque] = field(default_factory=lambda: defaultdict(deque))
    _reasons: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and math.isfinite(self.window_s)):
            raise ValueError(f"window must be > 0 seconds, got {self.window_s}")

    @property
    def start(self) -> float:
        return (self.t0 or 0.0) + self.index * self.window_s

    @property
    def end(self) -> float:
        return self.start + self.window_s

    def push(self, sample: Sample) -> list[WindowStats]:
        """Add one sample; returns the windows it closed (usually none, sometimes one)."""
        if self.t0 is None:
            self.t0 = sample.t
        closed: list[WindowStats] = []
        while sample.t >= self.end:
            closed += self._emit(partial=False)
            self.index += 1
        for metric, value in sample.values.items():
            self._buffers[(sample.device, metric)].append((sample.t, value))
            if value is None and metric in sample.reasons:
                self._reasons[(sample.device, metric)] = sample.reasons[metric]
        return closed

    def flush(self) -> list[WindowStats]:
        """Emit the current, unfinished window (at exit) and mark it partial."""
        if self.t0 is None:
            return []
        return self._emit(partial=True)

    def _emit(self, partial: bool) -> list[WindowStats]:
        out = []
        for (device, metric), buf in sorted(self._buffers.items()):
            while buf and buf[0][0] < self.start:  # ring buffer: drop what left the window
                buf.popleft()
            inside = [v for t, v in buf if t < self.end]
            values = [v for v in inside if v is not None]
            n_null = len(inside) - len(values)
            reason = self._reasons.get((device, metric)) if n_null else None
            out.append(
                WindowStats(
                    device,
                    metric,
                    unit_of(metric),
                    self.start,
                    self.end,
                    len(values),
                    n_null,
                    window_stats(values),
                    partial,
                    reason,
                )
            )
        return out
