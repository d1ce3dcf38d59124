"""Trace analysis on a synthetic GPU trace, the A/B statistics, the claim checks, overhead."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from dsbench.profiler.ab import _mann_whitney_numpy, bootstrap_ratio_ci, interleave
from dsbench.profiler.trace import analyze_events


def kernel(name, ts, dur, corr, cat="kernel"):
    return {
        "ph": "X",
        "cat": cat,
        "name": name,
        "ts": ts,
        "dur": dur,
        "pid": 0,
        "tid": 7,
        "args": {"correlation": corr},
    }


def launch(ts, corr):
    return {
        "ph": "X",
        "cat": "cuda_runtime",
        "name": "cudaLaunchKernel",
        "ts": ts,
        "dur": 2,
        "pid": 1,
        "tid": 1,
        "args": {"correlation": corr},
    }


def test_gpu_breakdown_and_idle_split_are_exact():
    events = [
        {
            "ph": "X",
            "cat": "cpu_op",
            "name": "ProfilerStep#1",
            "ts": 0,
            "dur": 1000,
            "pid": 1,
            "tid": 1,
        },
        launch(0, 1),
        kernel("gemm", 0, 200, 1),
        launch(100, 2),
        kernel("gemm", 210, 90, 2),  # queued, 10 us gap: launch-bound
        launch(500, 3),
        kernel("ncclDevKernel_AllReduce", 500, 200, 3),  # host-wait 200 us
        launch(510, 4),
        kernel("elementwise", 600, 50, 4),  # overlaps the all-reduce
        launch(520, 5),
        kernel("Memcpy HtoD", 800, 100, 5, cat="gpu_memcpy"),  # other 100 us
    ]
    s, ops = analyze_events(events, launch_gap_us=30)
    assert s["timeline"] == "gpu" and s["steps"] == 1 and s["span_us"] == 1000
    assert (s["compute_us"], s["communication_us"], s["memory_us"]) == (340, 200, 100)
    assert s["idle_us"] == 1000 - 200 - 90 - 200 - 100
    assert s["idle_launch_bound_us"] == 10 and s["idle_host_wait_us"] == 200
    assert s["idle_other_us"] == 100 + 100  # queued-but-idle gap + tail after the last kernel
    assert s["comm_overlap_pct"] == 25.0
    assert {r["name"] for r in ops} >= {"gemm", "ncclDevKernel_AllReduce"}


def test_mann_whitney_matches_reference_values():
    # Reference p-values: scipy.stats.mannwhitneyu(..., alternative="two-sided").
    exact = _mann_whitney_numpy(np.array([1.0, 2, 3, 4]), np.array([5.0, 6, 7, 8]))
    assert exact.method == "exact" and exact.u == 0 and exact.p == pytest.approx(2 / 70)
    same = _mann_whitney_numpy(np.array([1.1, 2, 3.5, 9]), np.array([1.5, 2.5, 4, 8]))
    assert same.u == 7 and same.p == pytest.approx(62 / 70)
    ties = _mann_whitney_numpy(np.array([1.0, 1, 2, 2, 3] * 6), np.array([2.0, 3, 3, 4, 4] * 6))
    assert ties.method == "normal" and ties.p < 1e-3


def test_exact_distribution_sums_to_binomial():
    from math import comb

    from dsbench.profiler.ab import _exact_cdf_counts

    assert sum(_exact_cdf_counts(5, 7)) == comb(12, 5)


def test_bootstrap_and_interleave():
    a = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95]
    b = [2 * x for x in a]
    low, high = bootstrap_ratio_ci(a, b)
    assert low == pytest.approx(2.0) and high == pytest.approx(2.0)
    order = []
    result = interleave(lambda: order.append("A") or 1.0, lambda: order.append("B") or 3.0, 4)
    assert "".join(order) == "ABBAABBA" and result.ratio == 3.0


@pytest.mark.parametrize(
    "claim_id, verdict",
    [
        ("003-monitor-gpu-util-70pct", "needs-gpu"),
        ("003-monitor-nccl-bw-80pct", "needs-gpu"),
        ("003-monitor-mem-85pct", "needs-gpu"),
        ("003-ab-benchmark-code", "contradicted"),
    ],
)
def test_profiler_checks_give_verdicts_quickly(tmp_path, claim_id, verdict):
    from dsbench.claims.registry import CheckContext, checks_by_claim

    chk = checks_by_claim()[claim_id]
    start = time.perf_counter()
    outcome = chk.fn(CheckContext("quick", tmp_path, chk.claim_ids))
    assert outcome.verdict.value == verdict
    assert outcome.evidence and (tmp_path / outcome.evidence[0]).exists()
    assert time.perf_counter() - start < 30  # generous: shared 2-core machines


def test_seed_benchmark_code_collects_nothing():
    import torch

    from dsbench.claims.checks.profiler import run_seed_benchmark

    assert run_seed_benchmark().startswith("NameError")
    assert "Profiler must be initialized" in run_seed_benchmark(torch.nn.Linear(1024, 1024))


@pytest.mark.benchmark
def test_sampling_overhead_at_100ms_is_under_one_percent_of_a_core():
    from dsbench.profiler.telemetry.cpu import CpuBackend
    from dsbench.profiler.telemetry.metrics import HOST_METRICS

    backend = CpuBackend(HOST_METRICS)
    backend.start()
    used = []

    def loop():
        t0 = time.thread_time()
        stop = time.monotonic() + 10.0
        while time.monotonic() < stop:
            backend.read(None)
            time.sleep(0.1)
        used.append(time.thread_time() - t0)

    thread = threading.Thread(target=loop)
    thread.start()
    thread.join()
    share = used[0] / 10.0
    print(f"sampler CPU: {100 * share:.3f}% of one core at 100 ms")
    assert share < 0.01
