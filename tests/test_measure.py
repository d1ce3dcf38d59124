"""Measuring a workload: a fast path that disagrees with its reference is refused."""

from __future__ import annotations

import pytest
import torch

from dsbench.core.errors import DsbenchError
from dsbench.core.timing import TimerConfig
from dsbench.profiler.measure import max_abs_error, measure_workload
from workloads.base import Case, Workload, register

QUICK = TimerConfig.quick()


def _wrong_build(size, device, dtype):
    x = torch.ones(4)
    return Case(fn=lambda: x * 2.001, reference=lambda: x * 2, params={"n": 4}, atol=1e-6)


# A deliberately wrong stand-in workload, registered only by this test module.
register(Workload("test-standin-wrong", (), {"tiny": {}}, _wrong_build, "test stand-in"))


def test_wrong_fast_path_is_not_timed():
    with pytest.raises(DsbenchError, match="disagrees with its reference"):
        measure_workload("test-standin-wrong", "tiny", config=QUICK)


def test_measure_gemm_record():
    record = measure_workload("gemm", "tiny", config=QUICK)
    assert record.kind.value == "measurement"
    assert record.params == {"size": "tiny", "device": "cpu", "dtype": "float32", "n": 64}
    assert record.info["claim_ids"] == ["004-fp16-312-tflops"]
    assert record.environment["torch"] == torch.__version__


def test_unknown_size_and_dtype():
    with pytest.raises(DsbenchError, match="has no size 'huge'"):
        measure_workload("gemm", "huge")
    with pytest.raises(DsbenchError, match="unknown dtype 'int3'"):
        measure_workload("gemm", "tiny", dtype="int3")


def test_max_abs_error_nested():
    a = (torch.zeros(2), {"x": torch.tensor([1.0, 3.0])})
    b = (torch.zeros(2), {"x": torch.tensor([1.0, 1.0])})
    assert max_abs_error(a, b) == 2.0
    with pytest.raises(DsbenchError, match="shape"):
        max_abs_error(torch.zeros(2), torch.zeros(3))
