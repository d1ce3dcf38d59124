"""The pipeline bubble must emerge from the SimPy processes and match its closed form."""

import pytest

from simulators.memory import Schedule
from simulators.pipeline import (
    PipelineCosts,
    bubble_fraction_1f1b,
    schedule_ops,
    simulate_pipeline,
)


def uniform(
    p,
    m,
    v=1,
    schedule=Schedule.ONE_F_ONE_B,
    tf=1.0,
    tb=2.0,
    p2p=0.0,
    dp=0.0,
    buckets=1,
    overlap=False,
):
    n = p * v
    return PipelineCosts(
        p,
        v,
        m,
        schedule,
        (tf / v,) * n,
        (tb / v,) * n,
        (0.0,) * n,
        (0.0,) * n,
        p2p,
        (dp,) * p,
        buckets,
        overlap,
        (0.0,) * p,
    )


@pytest.mark.parametrize("schedule", [Schedule.ONE_F_ONE_B, Schedule.GPIPE])
@pytest.mark.parametrize("p, m", [(2, 4), (4, 8), (8, 16), (8, 64), (16, 16)])
def test_bubble_equals_closed_form(schedule, p, m):
    r = simulate_pipeline(uniform(p, m, schedule=schedule))
    assert r.iteration_s == pytest.approx(3.0 * (m + p - 1))
    assert r.by_stage[0]["bubble"] / r.iteration_s == pytest.approx(bubble_fraction_1f1b(p, m))


@pytest.mark.parametrize("p, m, v", [(4, 8, 2), (4, 8, 3), (8, 16, 2)])
def test_interleaving_divides_bubble_by_v(p, m, v):
    r = simulate_pipeline(uniform(p, m, v))
    assert r.iteration_s == pytest.approx(3.0 * m + 3.0 * (p - 1) / v)
    assert r.by_stage[0]["bubble"] / r.iteration_s == pytest.approx(bubble_fraction_1f1b(p, m, v))


def test_1f1b_op_order_matches_megatron():
    assert schedule_ops(Schedule.ONE_F_ONE_B, 4, 1, 6, 1) == [
        ("F", 0, 0),
        ("F", 1, 0),
        ("F", 2, 0),
        ("B", 0, 0),
        ("F", 3, 0),
        ("B", 1, 0),
        ("F", 4, 0),
        ("B", 2, 0),
        ("F", 5, 0),
        ("B", 3, 0),
        ("B", 4, 0),
        ("B", 5, 0),
    ]
    ops = schedule_ops(Schedule.ONE_F_ONE_B, 2, 2, 4, 0)
    assert ops[:4] == [("F", 0, 0), ("F", 1, 0), ("F", 0, 1), ("F", 1, 1)]
    assert sorted(ops) == sorted([(k, mb, c) for k in "FB" for mb in range(4) for c in range(2)])


def test_interleaving_needs_divisible_micro_batches():
    with pytest.raises(ValueError, match=r"micro_batches\(6\) divisible by pp\(4\)"):
        schedule_ops(Schedule.ONE_F_ONE_B, 4, 2, 6, 0)


def test_p2p_adds_per_hop_latency_to_the_fill():
    base = simulate_pipeline(uniform(4, 8)).iteration_s
    with_p2p = simulate_pipeline(uniform(4, 8, p2p=0.1)).iteration_s
    assert with_p2p > base


def test_dp_overlap_hides_reduction_up_to_backward():
    serial = simulate_pipeline(uniform(1, 4, dp=1.5, buckets=10))
    overlapped = simulate_pipeline(uniform(1, 4, dp=1.5, buckets=10, overlap=True))
    assert serial.iteration_s == pytest.approx(12.0 + 1.5)
    # the last backward lasts 2 s; buckets drain as it proceeds, one bucket is left over
    assert overlapped.iteration_s == pytest.approx(12.0 + 0.15)
    assert overlapped.by_stage[0]["dp_exposed"] == pytest.approx(0.15)


def test_gpipe_and_1f1b_same_time_uniform_stages():
    a = simulate_pipeline(uniform(4, 12)).iteration_s
    b = simulate_pipeline(uniform(4, 12, schedule=Schedule.GPIPE)).iteration_s
    assert a == pytest.approx(b)


def test_deterministic_events():
    a = simulate_pipeline(uniform(4, 8, p2p=0.01), record=True)
    b = simulate_pipeline(uniform(4, 8, p2p=0.01), record=True)
    assert a.events == b.events and a.simpy_events == b.simpy_events > 0
