"""The timer against functions of known duration and against torch's own benchmark timer.

Two kinds of known duration. A *simulated clock* advances by a set amount per call, so the
timer's arithmetic (inner loop, per-call division, statistics) is checked exactly and
independently of machine load. *Busy-waiting* functions take a known wall time; on a
loaded machine pre-emption can only lengthen a sample, never shorten it, so the fastest
sample is the load-independent estimate and is compared within a stated tolerance.
"""

from __future__ import annotations

import gc
import time

import pytest

from dsbench.core.timing import TimerConfig, Timing, time_fn

FAST = TimerConfig(warmup_s=0.005, budget_s=0.05, min_samples=7)


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class SimulatedClock:
    """A nanosecond clock that advances only when the timed function runs."""

    def __init__(self, per_call_ns: list[int]) -> None:
        self.now, self.per_call_ns, self.calls = 0, per_call_ns, 0

    def __call__(self) -> int:
        return self.now

    def work(self) -> None:
        self.now += self.per_call_ns[self.calls % len(self.per_call_ns)]
        self.calls += 1


@pytest.mark.parametrize("per_call_ns", [[3_000_000], [50_000], [100]])
def test_exact_on_simulated_clock(per_call_ns):
    clock = SimulatedClock(per_call_ns)
    timing = time_fn(clock.work, config=FAST, now_ns=clock)
    sample_s = timing.number * per_call_ns[0] * 1e-9
    assert timing.number == 1 or 1e-3 <= sample_s < 2.5e-3  # a sample lasts >= min_sample_s
    assert timing.median_s == timing.min_s == pytest.approx(per_call_ns[0] * 1e-9, rel=1e-12)
    assert timing.iqr_s == 0 and not timing.warnings


def test_spread_statistics_on_simulated_clock():
    clock = SimulatedClock([2_000_000, 2_000_000, 6_000_000])  # one slow call in three
    timing = time_fn(
        clock.work,
        config=TimerConfig(warmup_s=0, warmup_calls=1, budget_s=0.01, min_samples=30),
        now_ns=clock,
    )
    assert timing.number == 1 and timing.min_s == pytest.approx(2e-3)
    assert timing.median_s == pytest.approx(2e-3) and timing.warnings


@pytest.mark.parametrize("seconds", [2e-4, 2e-3])
def test_fastest_sample_matches_known_duration(seconds):
    timing = time_fn(lambda: spin(seconds), config=FAST)
    assert timing.min_s >= seconds * 0.999
    assert timing.min_s == pytest.approx(seconds, rel=0.05)  # stated tolerance: 5%
    assert timing.median_s >= timing.min_s


def test_short_functions_get_an_inner_loop():
    timing = time_fn(lambda: None, config=FAST)
    assert timing.number > 100  # the clock read must be negligible against one sample
    assert timing.median_s < 1e-5


def test_agrees_with_torch_benchmark_timer_on_simulated_clock():
    # Both timers read the same simulated clock: their per-call arithmetic must agree exactly.
    from torch.utils.benchmark import Timer

    clock = SimulatedClock([500_000])
    ours = time_fn(clock.work, config=FAST, now_ns=clock).median_s
    theirs = Timer("work()", globals={"work": clock.work}, timer=lambda: clock() * 1e-9)
    assert ours == pytest.approx(theirs.blocked_autorange(min_run_time=0.01).median, rel=1e-9)


def test_agrees_with_torch_benchmark_timer():
    from torch.utils.benchmark import Timer

    # One call per sample on both sides, fastest sample: pre-emption on a loaded machine can
    # only lengthen a sample, so the minima are the load-independent estimates.
    ours = time_fn(lambda: spin(5e-4), config=FAST).min_s
    timer = Timer("spin(5e-4)", globals={"spin": spin})
    theirs = min(timer.timeit(number=1).median for _ in range(30))
    assert ours == pytest.approx(theirs, rel=0.10)  # stated tolerance: 10%


def test_gc_is_off_while_timing_and_restored():
    states = []
    time_fn(lambda: states.append(gc.isenabled()), config=FAST)
    assert gc.isenabled()
    assert states and not states[-1]


def test_spread_warning_on_noisy_function():
    state = {"i": 0}

    def alternating():
        state["i"] += 1
        spin(2e-4 if state["i"] % 2 else 1e-3)

    timing = time_fn(
        alternating,
        config=TimerConfig(
            warmup_s=0, min_sample_s=0, overhead_factor=0, budget_s=0.05, min_samples=20
        ),
    )
    assert timing.number == 1
    assert timing.spread > 0.5 and timing.warnings and "spread is large" in timing.warnings[0]


def test_summary_statistics():
    t = Timing((1.0, 2.0, 3.0, 4.0, 5.0), number=1, method="perf_counter_ns", device="cpu")
    assert (t.median_s, t.mean_s, t.min_s, t.n) == (3.0, 3.0, 1.0, 5)
    assert t.iqr_s == pytest.approx(2.0)
    assert t.metric().samples == t.samples_s and t.metric().unit == "s"


def test_budget_bounds_the_run():
    start = time.perf_counter()
    time_fn(lambda: spin(1e-3), config=TimerConfig(warmup_s=0, budget_s=0.05, min_samples=3))
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "kwargs", [{"budget_s": -1}, {"min_samples": 0}, {"min_samples": 5, "max_samples": 2}]
)
def test_bad_config_names_the_values(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        TimerConfig(**kwargs)


def test_unknown_device():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        time_fn(lambda: None, device="tpu", config=FAST)


@pytest.mark.gpu
def test_cuda_events_time_device_work():
    import torch

    a = torch.randn(2048, 2048, device="cuda")
    timing = time_fn(lambda: a @ a, device="cuda", config=FAST)
    assert timing.method == "cuda_event"
    # 2·n³ FLOPs must take at least the time the fastest GPU on the market needs.
    assert timing.median_s > 2 * 2048**3 / 2e15
