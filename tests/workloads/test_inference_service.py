"""The seed's service code and the real 127.0.0.1 request loop."""

from __future__ import annotations

import pytest

from workloads.inference.service import (
    BatchingBackend,
    SimulatedDevice,
    ThreadPoolBackend,
    load_test,
    run_seed_handler,
)


def test_seed_handler_raises_after_submitting_work():
    device = SimulatedDevice(0.0, 0.0)
    got = run_seed_handler(device)
    assert got["error"] is not None and "has no attribute 'id'" in got["error"]
    assert device.passes == [1]  # the model ran, yet the caller gets an error
    assert not got["result_retrievable"]


def test_batching_worker_batches_and_answers_correctly():
    device = SimulatedDevice(0.004, 0.0002)
    result = load_test(
        lambda: BatchingBackend(device, max_batch=8, max_wait_s=0.002),
        clients=8,
        per_client=3,
        timeout_s=5.0,
    )
    assert result.errors == 0 and len(result.latencies_s) == 24
    assert sum(device.passes) == 24 and max(device.passes) <= 8
    assert len(device.passes) < 24  # some passes carried several requests


def test_thread_pool_serialises_as_batches_of_one():
    device = SimulatedDevice(0.004, 0.0002)
    result = load_test(
        lambda: ThreadPoolBackend(device, 16), clients=8, per_client=2, timeout_s=5.0
    )
    assert result.errors == 0 and device.passes == [1] * 16
    # one device, one pass at a time: the wall time is at least the sum of the passes
    assert result.wall_s >= 16 * device.a_s


def test_load_test_rejects_bad_sizes():
    with pytest.raises(ValueError):
        load_test(lambda: ThreadPoolBackend(SimulatedDevice(0, 0)), clients=0)
    with pytest.raises(ValueError):
        SimulatedDevice(-1.0, 0.0)
