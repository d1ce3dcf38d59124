"""The timer: the single way anything in dsbench is timed.

The method follows what careful benchmark harnesses do (``timeit.autorange``,
``torch.utils.benchmark.Timer.blocked_autorange``, Google Benchmark):

1. **Warm-up** — run the function until ``warmup_s`` has passed (at least
   ``warmup_calls`` times), so caches, allocators, lazy initialisation and JIT are settled.
2. **Inner loop sizing** — one sample times ``number`` back-to-back calls. ``number`` is
   doubled until one sample lasts at least ``min_sample_s`` *and* at least
   ``overhead_factor`` times the measured cost of reading the clock, so the timer's own
   overhead is negligible against what it measures.
3. **Repeats** — samples are taken until the time budget ``budget_s`` is spent and at least
   ``min_samples`` exist, or ``max_samples`` is reached; ``max_time_s`` is a hard stop.
4. **Clock** — on CPU, ``time.perf_counter_ns``. On a CUDA device the device is
   synchronised before the first call, and CUDA events bracket each sample (the host
   clock would only measure kernel *launches*).
5. **Garbage collection** is disabled while samples are taken (as ``timeit`` does) and
   restored afterwards.

Every raw sample (seconds per call) is kept. The summary is the median (robust to the
occasional pre-emption of a shared machine), the inter-quartile range, mean, min and n.
A spread (IQR / median) above ``spread_warn`` adds a warning to the result: the machine was
busy and a comparison made from these samples is weak.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dsbench.core.results import Metric


@dataclass(frozen=True)
class TimerConfig:
    """How long and how often to measure. All times in seconds."""

    warmup_s: float = 0.05  # minimum warm-up duration
    warmup_calls: int = 1  # minimum warm-up calls
    min_sample_s: float = 1e-3  # one sample lasts at least this long
    overhead_factor: float = 1000.0  # one sample lasts >= this x the clock-read cost
    budget_s: float = 0.5  # keep sampling until this much time is spent...
    min_samples: int = 7  # ...and at least this many samples exist
    max_samples: int = 10_000
    max_time_s: float = 30.0  # hard stop for very slow functions
    spread_warn: float = 0.10  # warn when IQR / median exceeds this

    def __post_init__(self) -> None:
        for name in ("warmup_s", "min_sample_s", "budget_s", "max_time_s", "spread_warn"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.min_samples < 1 or self.max_samples < self.min_samples:
            raise ValueError(
                f"need 1 <= min_samples({self.min_samples}) <= max_samples({self.max_samples})"
            )

    @classmethod
    def quick(cls) -> TimerConfig:
        """A short budget for tests and quick sweeps."""
        return cls(warmup_s=0.01, budget_s=0.1, min_samples=5, max_time_s=5.0)


@dataclass(frozen=True)
class Timing:
    """Result of :func:`time_fn`: per-call seconds for every sample, and their summary."""

    samples_s: tuple[float, ...]
    number: int  # calls per sample
    method: str  # "perf_counter_ns" or "cuda_event"
    device: str
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n(self) -> int:
        return len(self.samples_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples_s)

    @property
    def mean_s(self) -> float:
        return statistics.fmean(self.samples_s)

    @property
    def min_s(self) -> float:
        return min(self.samples_s)

    @property
    def iqr_s(self) -> float:
        if self.n < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples_s, n=4, method="inclusive")
        return q3 - q1

    @property
    def spread(self) -> float:
        """IQR relative to the median (0.05 = 5%)."""
        return self.iqr_s / self.median_s if self.median_s > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "median_s": self.median_s,
            "iqr_s": self.iqr_s,
            "mean_s": self.mean_s,
            "min_s": self.min_s,
            "n": self.n,
            "number": self.number,
            "method": self.method,
            "device": self.device,
        }

    def metric(self) -> Metric:
        """The median as a record metric, with every sample kept for statistics."""
        return Metric(self.median_s, "s", self.samples_s)


def clock_overhead_ns(reads: int = 2000) -> float:
    """Median cost of one ``perf_counter_ns`` read, in nanoseconds."""
    costs = []
    for _ in range(reads):
        t0 = time.perf_counter_ns()
        t1 = time.perf_counter_ns()
        costs.append(t1 - t0)
    return float(statistics.median(costs))


class _HostClock:
    method = "perf_counter_ns"

    def __init__(self, device: str, now_ns: Callable[[], int] = time.perf_counter_ns) -> None:
        self.device = device
        self.now_ns = now_ns

    def sample(self, fn: Callable[[], Any], number: int) -> float:
        t0 = self.now_ns()
        for _ in range(number):
            fn()
        return (self.now_ns() - t0) * 1e-9


class _CudaClock:
    """CUDA events around the inner loop; the host waits for the end event."""

    method = "cuda_event"

    def __init__(self, device: str) -> None:
        import torch

        self.device = device
        self._torch = torch
        torch.cuda.synchronize(device)

    def sample(self, fn: Callable[[], Any], number: int) -> float:
        cuda = self._torch.cuda
        start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
        start.record()
        for _ in range(number):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) * 1e-3


def _clock_for(device: str, now_ns: Callable[[], int] | None) -> _HostClock | _CudaClock:
    if device.startswith("cuda"):
        return _CudaClock(device)
    if device == "cpu":
        return _HostClock(device, now_ns or time.perf_counter_ns)
    raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda[:N]'")


def time_fn(
    fn: Callable[[], Any],
    device: str = "cpu",
    config: TimerConfig | None = None,
    now_ns: Callable[[], int] | None = None,
) -> Timing:
    """Time the zero-argument callable ``fn`` on ``device``; see the module docstring.

    ``now_ns`` replaces ``time.perf_counter_ns`` as the CPU clock (tests use a simulated
    clock to check the arithmetic exactly); the budget is always spent in real time.
    """
    config = config or TimerConfig()
    clock = _clock_for(device, now_ns)
    _warm_up(fn, clock, config)
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        number = _size_inner_loop(fn, clock, config)
        samples = _take_samples(fn, clock, number, config)
    finally:
        if gc_was_enabled:
            gc.enable()
    timing = Timing(tuple(samples), number, clock.method, device)
    if timing.spread > config.spread_warn:
        note = (
            f"spread is large: IQR is {timing.spread:.0%} of the median over {timing.n} "
            "samples; the machine was busy and comparisons from these samples are weak"
        )
        timing = Timing(timing.samples_s, number, clock.method, device, (note,))
    return timing


def _warm_up(fn: Callable[[], Any], clock, config: TimerConfig) -> None:
    start = time.perf_counter()
    calls = 0
    while calls < config.warmup_calls or time.perf_counter() - start < config.warmup_s:
        clock.sample(fn, 1)
        calls += 1
        if time.perf_counter() - start > config.max_time_s:
            break


def _size_inner_loop(fn: Callable[[], Any], clock, config: TimerConfig) -> int:
    floor_s = max(config.min_sample_s, config.overhead_factor * clock_overhead_ns(200) * 1e-9)
    number = 1
    while True:
        elapsed = clock.sample(fn, number)
        if elapsed >= floor_s or number >= 1 << 30:
            return number
        # Jump close to the target in one step when the first sample is very short.
        number = max(number * 2, int(number * floor_s / max(elapsed, 1e-9) * 1.2))


def _take_samples(fn: Callable[[], Any], clock, number: int, config: TimerConfig) -> list[float]:
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < config.max_samples:
        samples.append(clock.sample(fn, number) / number)
        spent = time.perf_counter() - start
        if spent >= config.budget_s and len(samples) >= config.min_samples:
            break
        if spent >= config.max_time_s and len(samples) >= 3:
            break
    return samples
