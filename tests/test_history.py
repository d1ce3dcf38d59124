"""Change-point detection over stored runs: null series, single steps, a step that is fixed."""

from __future__ import annotations

import numpy as np
import pytest

from dsbench.core import results
from dsbench.core.errors import DsbenchError
from dsbench.core.results import Kind, Metric, Record
from dsbench.regress.history import annotate, change_points, latest_group, series


def noisy(rng, n, level=1.0, sigma=0.03):
    return list(level * rng.lognormal(0.0, sigma, n))


def test_no_change_in_stationary_series():
    rng = np.random.default_rng(0)
    found = sum(bool(change_points(noisy(rng, 20))) for _ in range(200))
    assert found <= 4  # <= 2% of 200 stationary series show a step


def test_single_step_found_at_its_first_run():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(100):
        points = change_points(noisy(rng, 10) + noisy(rng, 10, 1.2))
        hits += [p.index for p in points] == [10]
    assert hits >= 95


def test_step_that_is_fixed_later_gives_two_points():
    rng = np.random.default_rng(2)
    values = noisy(rng, 8) + noisy(rng, 8, 1.3) + noisy(rng, 8)
    points = change_points(values)
    assert [p.index for p in points] == [8, 16]
    assert points[0].ratio == pytest.approx(1.3, rel=0.05)
    assert points[1].ratio == pytest.approx(1 / 1.3, rel=0.05)


def test_small_step_below_min_step_is_ignored():
    values = [1.0] * 10 + [1.02] * 10  # noise-free: significant, but only 2%
    assert change_points(values) == []
    assert [p.index for p in change_points(values, min_step=0.01)] == [10]


def test_bad_input():
    with pytest.raises(ValueError, match="positive"):
        change_points([1.0, 0.0, 1.0])


def record(ts, value, params=None, env=None):
    samples = (value * 0.99, value, value * 1.01)
    return Record(
        kind=Kind.MEASUREMENT,
        name="gemm",
        params=params or {"size": "cpu"},
        metrics={"time": Metric(value, "s", samples)},
        timestamp=ts,
        environment=env or {"cpu_model": "x"},
    )


def test_series_from_stored_records(tmp_path):
    for i, v in enumerate([1.0, 1.0, 1.0, 2.0]):
        results.save(record(f"2026-01-0{i + 1}T00:00:00", v), tmp_path)
    results.save(record("2026-01-09T00:00:00", 5.0, params={"size": "tiny"}), tmp_path)
    frame = series(results.load_records([tmp_path]), "gemm")
    assert list(frame["value"]) == [1.0, 1.0, 1.0, 2.0, 5.0]
    assert frame["metric"].iloc[0] == "time"
    group, others = latest_group(frame)
    assert list(group["value"]) == [5.0] and others == 1
    group, _ = latest_group(frame.iloc[:4])
    annotated = annotate(group, change_points(list(group["value"]), min_size=2))
    assert list(annotated.columns[-2:]) == ["segment", "level"]
    with pytest.raises(DsbenchError, match="no stored record is named 'nope'"):
        series(results.load_records([tmp_path]), "nope")
    with pytest.raises(DsbenchError, match="metrics: time"):
        series(results.load_records([tmp_path]), "gemm", "memory")
