"""Windows and alerts on replayed series with known statistics."""

from __future__ import annotations

import numpy as np
import pytest

from dsbench.core.errors import DsbenchError
from dsbench.profiler.telemetry.alerts import DEFAULT_RULES, AlertEngine, AlertRule, Op, parse_rule
from dsbench.profiler.telemetry.metrics import Sample, parse_metrics
from dsbench.profiler.telemetry.replay import ReplayBackend, write_series
from dsbench.profiler.telemetry.window import Windower


def windows_of(path, window_s):
    backend = ReplayBackend(path)
    backend.start()
    windower, out = Windower(window_s), []
    for batch in backend.batches():
        for s in batch:
            out += windower.push(s)
    return out + windower.flush()


def test_window_statistics_equal_numpy_exactly(tmp_path):
    rng = np.random.default_rng(7)
    series = rng.uniform(0, 100, size=1800)  # 100 ms interval, 180 s
    path = write_series(
        tmp_path / "s.jsonl", "gpu0", {"gpu_util": series}, t0=1000.0, interval_s=0.1
    )
    windows = windows_of(path, 60.0)
    full = [w for w in windows if not w.partial]
    assert len(full) == 2 and windows[-1].partial
    t = 1000.0 + 0.1 * np.arange(1800)
    for w in full + [windows[-1]]:
        inside = series[(t >= w.start) & (t < w.end)]
        assert w.n == len(inside)
        p5, p50, p95 = np.percentile(inside, [5, 50, 95])
        assert w.stats == {
            "mean": np.mean(inside),
            "min": np.min(inside),
            "max": np.max(inside),
            "p5": p5,
            "p50": p50,
            "p95": p95,
        }
    assert full[0].n in (599, 600, 601)  # float edges: 600 +- 1
    assert full[0].end - full[0].start == 60.0


def test_nulls_are_counted_not_averaged(tmp_path):
    path = write_series(
        tmp_path / "s.jsonl", "gpu0", {"power_w": [None, 100.0, None, 300.0]}, interval_s=1.0
    )
    (w,) = windows_of(path, 10.0)
    assert (w.n, w.n_null, w.stats["mean"]) == (2, 2, 200.0)


def test_gap_gives_an_empty_window():
    windower = Windower(1.0)
    assert windower.push(Sample(0.0, "h", {"x": 1.0})) == []
    closed = windower.push(Sample(2.5, "h", {"x": 2.0}))
    assert [w.n for w in closed] == [1, 0]


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf")])
def test_window_must_be_positive(bad):
    with pytest.raises(ValueError):
        Windower(bad)


def run_rule(rule, values):
    engine, windower, events = AlertEngine((rule,)), Windower(1.0), []
    for i, v in enumerate([*values, values[-1]]):
        events += engine.update(windower.push(Sample(float(i), "gpu0", {rule.metric: v})))
    return events


GPU_RULE = next(r for r in DEFAULT_RULES if r.metric == "gpu_util")


def test_one_or_two_breaching_windows_fire_nothing():
    assert run_rule(GPU_RULE, [90, 50, 90, 50, 50, 90, 90]) == []


def test_three_consecutive_windows_fire_exactly_once_and_name_the_cause():
    events = run_rule(GPU_RULE, [90, 50, 50, 50, 50, 50, 50])
    assert [e["event"] for e in events] == ["fire"]
    assert events[0]["window_start"] == 3.0 and events[0]["consecutive_windows"] == 3
    assert "host" in events[0]["cause"] and "duty cycle" in events[0]["cause"]


def test_hysteresis_holds_then_clears():
    events = run_rule(GPU_RULE, [50, 50, 50, 72, 50, 74, 76, 50])
    assert [(e["event"], e["window_start"]) for e in events] == [("fire", 2.0), ("clear", 6.0)]


def test_seed_thresholds_are_the_defaults():
    assert {r.label for r in DEFAULT_RULES} == {"gpu_util<70", "dram_bw_util<80", "mem_used_pct>85"}
    mem = next(r for r in DEFAULT_RULES if r.metric == "mem_used_pct")
    assert mem.op is Op.ABOVE and mem.stat == "max"


def test_parse_rule_and_metrics():
    rule = parse_rule("mem_used_pct>90:p95", 2, 3.0)
    assert (rule.threshold, rule.stat, rule.consecutive, rule.hysteresis) == (90, "p95", 2, 3.0)
    with pytest.raises(DsbenchError):
        parse_rule("gpu_util=70", 3, 5)
    with pytest.raises(DsbenchError, match="unknown metric"):
        parse_rule("gpu_utl<70", 3, 5)
    assert parse_metrics(["gpu_util,power_w", "temp_c"]) == ("gpu_util", "power_w", "temp_c")
    assert parse_metrics(["gpu_util", "all"]) == ("all",)
    with pytest.raises(DsbenchError, match="unknown metric 'gpu_utilisation'"):
        parse_metrics(["gpu_utilisation"])
    with pytest.raises(ValueError):
        AlertRule("gpu_util", Op.BELOW, 70, consecutive=0)
