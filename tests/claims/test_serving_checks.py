"""The serving checks: deterministic verdicts where the inputs are fixed, and every id covered."""

from __future__ import annotations

import pytest

from dsbench.bench import serving as serving_bench
from dsbench.claims.checks import serving as checks
from dsbench.claims.engine import verify
from dsbench.claims.registry import checks_by_claim
from dsbench.claims.verdicts import ANALYTIC, Verdict
from dsbench.core.results import Kind, Record
from workloads.inference.serving import ServiceModel

IDS = (
    "001-dynamic-batching-latency-15-20pct",
    "002-yolov5-train-24h-to-9h",
    "002-yolov5-112fps-t4",
    "002-mt-latency-150ms",
    "002-rec-120k-qps-10m-items",
    "004-a100-latency-8.3ms-37pct",
    "004-async-service-code",
)


def test_every_owned_id_has_a_check():
    registry = checks_by_claim()
    assert all(registry[i].name.startswith("dsbench.claims.checks.serving.") for i in IDS)


@pytest.mark.parametrize(
    ("measured", "verdict"),
    [
        (17.0, Verdict.SUPPORTED),
        (21.5, Verdict.SUPPORTED),
        (10.0, Verdict.PARTLY),
        (30.0, Verdict.PARTLY),
        (0.0, Verdict.CONTRADICTED),
        (60.0, Verdict.CONTRADICTED),
    ],
)
def test_range_rule(measured, verdict):
    assert checks._judge_range(15, 20, measured, ANALYTIC) is verdict


@pytest.fixture
def fixed_service(monkeypatch):
    """Replace the timed batch curve with a fixed a + b·B so the verdict is deterministic."""

    def fake(quick):
        service = ServiceModel(0.01, 0.001)
        record = Record(kind=Kind.MEASUREMENT, name="serving-batch-curve", metrics={})
        return record, service

    monkeypatch.setattr(serving_bench, "measure_service", fake)


def test_batching_and_yolo_verdicts(tmp_path, fixed_service):
    ids = [
        "001-dynamic-batching-latency-15-20pct",
        "002-yolov5-112fps-t4",
        "002-yolov5-train-24h-to-9h",
    ]
    outcomes = {r.claim.id: r.outcome for r in verify(tmp_path, only=ids)}
    batching = outcomes["001-dynamic-batching-latency-15-20pct"]
    # against the best-tuned dynamic batcher class-awareness barely moves the mean of all requests
    assert batching.verdict is Verdict.CONTRADICTED and abs(batching.measured) < 7.5
    assert "static" in batching.explanation
    fps = outcomes["002-yolov5-112fps-t4"]
    assert fps.verdict is Verdict.NEEDS_GPU
    assert fps.measured == pytest.approx(100 * 112 * 16.5e9 / 65e12)
    train = outcomes["002-yolov5-train-24h-to-9h"]
    assert train.verdict is Verdict.NEEDS_GPU
    assert train.measured == pytest.approx(8 * 24 * 125 / 312 / 8)  # V100 days scaled by FP16 peak


def test_async_service_is_contradicted(tmp_path, fixed_service):
    (row,) = verify(tmp_path, only=["004-async-service-code"])
    assert row.outcome.verdict is Verdict.CONTRADICTED
    assert "no attribute 'id'" in row.outcome.explanation
    assert row.outcome.measured > 1.5  # batching worker vs thread pool throughput
